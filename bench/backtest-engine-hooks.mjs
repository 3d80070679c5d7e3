#!/usr/bin/env node
// Goals of issue 16 for the engine, as same-run ratios (the machine is noisy: absolute times are
// not evidence, the ratios are):
//   hooks:  the engine with the worker's hooks on (abort flag, progress every 1 %, a time-based
//           checkpointDue look) >= 0.9x the engine without hooks;
//   bare:   the engine >= 0.6x a bare typed-array loop of the same SMA strategy (running-sum SMAs,
//           crossover, next-open fills with slippage and commission, close-marked equity, trades
//           kept in typed arrays; no metrics, no trade objects).
// Runs are interleaved (bare, engine, engine+hooks, …) and the best of each is compared.
// Needs the built packages (pnpm --filter @ktrdr/backtest-engine... build).
// Options: --sizes=1e5,1e6,5e6 --repeat=7 --max-seconds=120
import { arg, loadBuilt, sizesArg } from './lib.mjs';

const BUILD = 'pnpm --filter @ktrdr/backtest-engine... build';
const md = loadBuilt('packages/market-data/dist/index.js', BUILD);
const bt = loadBuilt('packages/backtest-engine/dist/index.js', BUILD);

const sizes = sizesArg('sizes', '1e5,1e6,5e6');
const repeat = Math.max(1, Number(arg('repeat', '7')));
const maxSeconds = Number(arg('max-seconds', '120'));
const t00 = process.hrtime.bigint();
const elapsed = () => Number(process.hrtime.bigint() - t00) / 1e9;
const now = () => Number(process.hrtime.bigint()) / 1e6;

const FAST = 10;
const SLOW = 30;
const config = {
  strategy: { type: 'sma_crossover', fast_period: FAST, slow_period: SLOW },
  initial_capital: 100_000,
  commission: 0.001,
  slippage: 0.0005,
};

/** The same strategy and fill rule in plain typed arrays: the floor an engine could reach. */
function bareLoop(bars) {
  const { open, close, time } = bars;
  const n = bars.length;
  const fast = new Float64Array(n);
  const slow = new Float64Array(n);
  let sf = 0;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    sf += close[i];
    ss += close[i];
    if (i >= FAST) sf -= close[i - FAST];
    if (i >= SLOW) ss -= close[i - SLOW];
    fast[i] = i >= FAST - 1 ? sf / FAST : NaN;
    slow[i] = i >= SLOW - 1 ? ss / SLOW : NaN;
  }
  const act = new Int8Array(n);
  for (let i = 1; i < n; i++) {
    const d = fast[i] - slow[i];
    const p = fast[i - 1] - slow[i - 1];
    if (d > 0 && p <= 0) act[i] = 1;
    else if (d < 0 && p >= 0) act[i] = -1;
  }
  const equity = new Float64Array(n);
  const cap = (n >> 1) + 1;
  const tEntry = new Float64Array(cap);
  const tExit = new Float64Array(cap);
  const tPnl = new Float64Array(cap);
  let k = 0;
  let cash = config.initial_capital;
  let qty = 0;
  let cost = 0;
  let entryT = 0;
  const c = config.commission;
  const s = config.slippage;
  for (let i = 0; i < n; i++) {
    if (i > 0) {
      const a = act[i - 1];
      if (a > 0 && qty === 0) {
        const price = open[i] * (1 + s);
        cost = cash;
        qty = cost / (price * (1 + c));
        cash = 0;
        entryT = time[i];
      } else if (a < 0 && qty > 0) {
        const proceeds = qty * open[i] * (1 - s);
        const net = proceeds - proceeds * c;
        cash += net;
        tEntry[k] = entryT;
        tExit[k] = time[i];
        tPnl[k++] = net - cost;
        qty = 0;
      }
    }
    equity[i] = cash + qty * close[i];
  }
  return { equity, trades: k };
}

const hooksFor = (n) => {
  let last = now();
  return {
    signal: new AbortController().signal,
    onProgress: () => {},
    progressEvery: Math.max(1, Math.floor(n / 100)),
    // The worker's cadence: a time-based look every abortCheckEvery bars, a snapshot when due.
    checkpointDue: () => now() - last >= 1000,
    onCheckpoint: () => {
      last = now();
    },
  };
};

{
  // Warm-up, untimed: enough calls that every loop of both runs optimised code (a few calls leave
  // the small sizes measuring the JIT's tiering instead; a sweep calls the engine again and again).
  const warm = md.synthBars('SYNTH-WARMUP', '1m', 0, { count: 200_000 });
  for (let k = 0; k < 20; k++) {
    bareLoop(warm);
    bt.runBacktest(warm, config);
    bt.runBacktest(warm, config, hooksFor(warm.length));
  }
}

console.log(`node ${process.version}; best of ${repeat} interleaved runs each`);
for (const n of sizes) {
  if (elapsed() > maxSeconds) {
    console.log(`(time budget of ${maxSeconds} s used up; ${n} bars skipped)`);
    continue;
  }
  const bars = md.synthBars('SYNTH-BENCH', '1m', 0, { count: n });
  const best = { bare: Infinity, engine: Infinity, hooks: Infinity };
  for (let k = 0; k < repeat && elapsed() < maxSeconds; k++) {
    let t = now();
    bareLoop(bars);
    best.bare = Math.min(best.bare, now() - t);
    t = now();
    bt.runBacktest(bars, config);
    best.engine = Math.min(best.engine, now() - t);
    t = now();
    bt.runBacktest(bars, config, hooksFor(n));
    best.hooks = Math.min(best.hooks, now() - t);
  }
  const f = (ms) => `${ms.toFixed(1)} ms`;
  console.log(
    `${n.toLocaleString('en-US')} bars: bare loop ${f(best.bare)} (anchor), engine ${f(best.engine)}, ` +
      `engine+hooks ${f(best.hooks)}`,
  );
  console.log(
    `  engine+hooks / engine speed = ${(best.engine / best.hooks).toFixed(2)}x (goal >= 0.9x)   ` +
      `engine / bare-loop speed = ${(best.bare / best.engine).toFixed(2)}x (goal >= 0.6x)`,
  );
}
