#!/usr/bin/env node
// Backtest engine throughput (bars per second) on 1e6 and 1e7 synthetic bars.
// Uses the built packages: run `pnpm --filter @ktrdr/market-data --filter @ktrdr/backtest-engine build`
// first, then `node bench/backtest-throughput.mjs` from the repo root.
// Options: --sizes=1e6,1e7  --repeat=3
import os from 'node:os';
import { arg, loadBuilt, sizesArg } from './lib.mjs';

const BUILD = 'pnpm --filter @ktrdr/market-data --filter @ktrdr/backtest-engine build';
const md = loadBuilt('packages/market-data/dist/index.js', BUILD);
const bt = loadBuilt('packages/backtest-engine/dist/index.js', BUILD);

const sizes = sizesArg('sizes', '1e6,1e7');
const repeat = Math.max(1, Number(arg('repeat', '3')));

const strategies = [
  { type: 'sma_crossover', fast_period: 10, slow_period: 30 },
  { type: 'rsi_mean_reversion', period: 14, oversold: 30, overbought: 70 },
];
const base = { initial_capital: 100_000, commission: 0.001, slippage: 0.0005 };

const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;
const fmt = (x) => Math.round(x).toLocaleString('en-US');

console.log(
  `node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ` +
    `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
);

// Warm-up: let V8 optimise the hot loops before timing.
{
  const warm = md.synthBars('SYNTH-WARMUP', '1m', 0, { count: 200_000 });
  for (const strategy of strategies) bt.runBacktest(warm, { ...base, strategy });
}

for (const n of sizes) {
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`Bad size ${n}`);
    process.exit(1);
  }
  let t0 = process.hrtime.bigint();
  const bars = md.synthBars('SYNTH-BENCH', '1m', 0, { count: n });
  const genS = seconds(t0);
  console.log(
    `\n${fmt(n)} bars (1m, SYNTH-BENCH): generated in ${genS.toFixed(2)} s (${fmt(n / genS)} bars/s)`,
  );
  for (const strategy of strategies) {
    const runs = [];
    let result;
    for (let k = 0; k < repeat; k++) {
      t0 = process.hrtime.bigint();
      result = bt.runBacktest(bars, { ...base, strategy });
      runs.push(seconds(t0));
    }
    const best = Math.min(...runs);
    const median = runs.slice().sort((a, b) => a - b)[Math.floor(runs.length / 2)];
    console.log(
      `  ${strategy.type.padEnd(20)} best ${best.toFixed(3)} s = ${fmt(n / best).padStart(12)} bars/s` +
        `   median ${fmt(n / median).padStart(12)} bars/s   (${result.num_trades} trades, ` +
        `${repeat} runs, indicators + signals + loop)`,
    );
  }
  // The worker's path: abort checks, progress and checkpoint callbacks on.
  const hooks = {
    signal: new AbortController().signal,
    onProgress: () => {},
    onCheckpoint: () => {},
    checkpointEvery: Math.ceil(n / 10),
  };
  const runs = [];
  for (let k = 0; k < repeat; k++) {
    t0 = process.hrtime.bigint();
    bt.runBacktest(bars, { ...base, strategy: strategies[0] }, hooks);
    runs.push(seconds(t0));
  }
  const best = Math.min(...runs);
  console.log(
    `  ${'sma_crossover+hooks'.padEnd(20)} best ${best.toFixed(3)} s = ${fmt(n / best).padStart(12)} bars/s` +
      `   (abort checks every 1024 bars, progress every 1 %, 10 checkpoints)`,
  );
}
