#!/usr/bin/env node
// Issue 16, market data: SYNTH generation and CSV parsing against the rate the engine consumes
// bars (runBacktest, SMA crossover, on the same bars), in the same run. Goal: both >= 1x the
// engine. Also the bars cache: a second load of the same file/series (a sweep) against the engine.
// The machine is noisy: compare the ratios. Best of --repeat, interleaved.
// Needs the built packages (pnpm --filter @ktrdr/backtest-engine... build).
// Each unmet goal gets a line saying what bounds it, measured in the same run.
// Options: --bars=1e6 --repeat=3 --max-seconds=180
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { arg, loadBuilt } from './lib.mjs';

const BUILD = 'pnpm --filter @ktrdr/backtest-engine... build';
const md = loadBuilt('packages/market-data/dist/index.js', BUILD);
const bt = loadBuilt('packages/backtest-engine/dist/index.js', BUILD);
const n = Math.round(Number(arg('bars', '1e6')));
const repeat = Math.max(1, Number(arg('repeat', '3')));
const maxSeconds = Number(arg('max-seconds', '180'));
const t00 = performance.now();
const elapsed = () => (performance.now() - t00) / 1000;

const START = Date.UTC(2020, 0, 1);
const config = {
  ...bt.BACKTEST_DEFAULTS,
  strategy: { type: 'sma_crossover', fast_period: 10, slow_period: 30 },
};
/**
 * What bounds SYNTH generation: the Math calls its generator makes per bar (5 exp, and Box–Muller's
 * log, sqrt, sin and cos for 2.5 pairs of normal draws), in a loop that does nothing else. The
 * generator's output is pinned bit for bit (market-data golden test), so these calls stay.
 */
function synthMath(count) {
  let acc = 0;
  let u = 0.123;
  for (let i = 0; i < count; i++) {
    u = u * 1.0000001 + 1e-9;
    for (let k = 0; k < 5; k++) acc += Math.exp(u * 0.01 + k * 1e-3);
    const pairs = i & 1 ? 2 : 3;
    for (let j = 0; j < pairs; j++) {
      const w = u + j;
      acc += Math.log(w) + Math.sqrt(w) + Math.sin(w) + Math.cos(w);
    }
  }
  return acc;
}
/** The other floor of any generator: six fresh float64 columns written once (page faults included). */
function freshColumns(count) {
  const cols = [];
  for (let k = 0; k < 6; k++) cols.push(new Float64Array(count));
  const [a, b, c, d, e, f] = cols;
  for (let i = 0; i < count; i++) {
    a[i] = i;
    b[i] = i;
    c[i] = i;
    d[i] = i;
    e[i] = i;
    f[i] = i;
  }
  return f[count - 1];
}
/**
 * What bounds CSV parsing: the least any parser in JS does with the file, reading it (one
 * readFileSync) and a loop that looks at every byte once (counts commas, folds the other bytes
 * into an integer so the loop cannot be dropped). The parser does this and the decoding.
 */
function byteLoop(buf) {
  let commas = 0;
  let acc = 0;
  for (let i = 0; i < buf.length; i++) {
    const ch = buf[i];
    if (ch === 44) commas++;
    else acc = (acc * 10 + (ch - 48)) | 0;
  }
  return commas + acc;
}
const sink = [];
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ktrdr-bench-md-'));
try {
  const bars = md.synthBars('SYNTH-MDBENCH', '1m', START, { count: n });
  // A CSV file of the same bars, as a data export would have them (ISO times, plain decimals).
  const lines = ['timestamp,open,high,low,close,volume'];
  for (let i = 0; i < n; i++) {
    lines.push(
      `${new Date(bars.time[i]).toISOString().slice(0, 19)}Z,${bars.open[i].toFixed(4)},` +
        `${bars.high[i].toFixed(4)},${bars.low[i].toFixed(4)},${bars.close[i].toFixed(4)},${bars.volume[i]}`,
    );
  }
  writeFileSync(path.join(tmp, 'BENCH_1m.csv'), lines.join('\n') + '\n');
  lines.length = 0;
  const opts = { symbol: 'BENCH', timeframe: '1m', dataDir: tmp };
  const cache = new md.BarsCache(2 ** 31);
  // Warm-up.
  for (let k = 0; k < 2; k++) {
    bt.runBacktest(md.synthBars('SYNTH-W', '1m', START, { count: 100_000 }), config);
  }
  md.loadBars(opts);
  const best = {
    engine: Infinity,
    synth: Infinity,
    csv: Infinity,
    cached: Infinity,
    math: Infinity,
    read: Infinity,
    bytes: Infinity,
    columns: Infinity,
  };
  const time = (key, fn) => {
    const t = performance.now();
    fn();
    best[key] = Math.min(best[key], performance.now() - t);
  };
  md.loadBars({ ...opts, cache }); // fills the cache
  const file = path.join(tmp, 'BENCH_1m.csv');
  const fileBytes = readFileSync(file);
  sink.push(byteLoop(fileBytes), byteLoop(fileBytes));
  for (let k = 0; k < repeat && elapsed() < maxSeconds; k++) {
    time('engine', () => bt.runBacktest(bars, config));
    time('synth', () => md.synthBars('SYNTH-MDBENCH', '1m', START, { count: n }));
    time('csv', () => md.loadBars(opts));
    time('cached', () => md.loadBars({ ...opts, cache }));
    time('math', () => sink.push(synthMath(n)));
    time('columns', () => sink.push(freshColumns(n)));
    time('read', () => sink.push(readFileSync(file).length));
    time('bytes', () => sink.push(byteLoop(fileBytes)));
  }
  const rate = (ms) => (n / ms) * 1000;
  const f = (ms) => `${ms.toFixed(0)} ms = ${Math.round(rate(ms)).toLocaleString('en-US')} bars/s`;
  console.log(
    `node ${process.version}; ${n.toLocaleString('en-US')} one-minute bars, best of ${repeat}`,
  );
  console.log(`  engine (SMA backtest)   ${f(best.engine)} (anchor)`);
  for (const [key, label] of [
    ['synth', 'SYNTH generation'],
    ['csv', 'CSV parse (loadBars)'],
    ['cached', 'cached load (sweep)'],
  ]) {
    console.log(
      `  ${label.padEnd(23)} ${f(best[key])}   = ${(best.engine / best[key]).toFixed(2)}x the engine's rate (goal >= 1x)`,
    );
  }
  const synthFloor = best.math + best.columns;
  console.log(
    `  what bounds SYNTH: its Math calls alone (5 exp + 2.5 x log/sqrt/sin/cos a bar) ${best.math.toFixed(0)} ms + writing six fresh columns ${best.columns.toFixed(0)} ms = ${synthFloor.toFixed(0)} ms = ${(best.engine / synthFloor).toFixed(2)}x the engine's rate, ${((100 * synthFloor) / best.synth).toFixed(0)} % of SYNTH generation`,
  );
  const floor = best.read + best.bytes;
  console.log(
    `  what bounds CSV: reading the file (${(fileBytes.length / n).toFixed(0)} bytes a bar) ${best.read.toFixed(0)} ms + one look at every byte ${best.bytes.toFixed(0)} ms = ${floor.toFixed(0)} ms = ${(best.engine / floor).toFixed(2)}x the engine's rate, ${((100 * floor) / best.csv).toFixed(0)} % of the CSV parse`,
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
