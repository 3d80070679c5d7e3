/**
 * Indicators over Float64Array. Every function returns a new Float64Array of the same length,
 * NaN where the value is not defined yet (warm-up) or a NaN input falls inside the window.
 */

function checkPeriod(period: number, name: string, min = 1): void {
  if (!Number.isInteger(period) || period < min) {
    throw new RangeError(`${name}: period must be an integer >= ${min}, got ${String(period)}`);
  }
}

/** Simple moving average of the last `period` values (first value at index period-1). */
export function sma(values: Float64Array, period: number): Float64Array {
  checkPeriod(period, 'sma');
  const n = values.length;
  const out = new Float64Array(n).fill(NaN);
  let sum = 0;
  let nan = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (Number.isNaN(v)) nan++;
    else sum += v;
    if (i >= period) {
      const old = values[i - period];
      if (Number.isNaN(old)) nan--;
      else sum -= old;
    }
    if (i >= period - 1 && nan === 0) out[i] = sum / period;
  }
  return out;
}

/**
 * Exponential moving average, alpha = 2 / (period + 1), seeded with the SMA of the first
 * `period` values (first value at index period-1 after any leading NaNs). A NaN input after the
 * seed gives NaN at that index and leaves the average unchanged.
 */
export function ema(values: Float64Array, period: number): Float64Array {
  checkPeriod(period, 'ema');
  const n = values.length;
  const out = new Float64Array(n).fill(NaN);
  const alpha = 2 / (period + 1);
  let start = 0;
  while (start < n && Number.isNaN(values[start])) start++;
  if (start + period > n) return out;
  let sum = 0;
  for (let i = start; i < start + period; i++) {
    if (Number.isNaN(values[i])) return emaFromRestart(values, period, i + 1, out);
    sum += values[i];
  }
  let e = sum / period;
  out[start + period - 1] = e;
  for (let i = start + period; i < n; i++) {
    const v = values[i];
    if (Number.isNaN(v)) continue;
    e = alpha * v + (1 - alpha) * e;
    out[i] = e;
  }
  return out;
}

function emaFromRestart(
  values: Float64Array,
  period: number,
  from: number,
  out: Float64Array,
): Float64Array {
  const rest = ema(values.subarray(from), period);
  out.set(rest, from);
  return out;
}

/**
 * Relative Strength Index with Wilder's smoothing. Changes d[i] = v[i] - v[i-1]; the first
 * average gain/loss is the plain mean of d[1..period], then avg = (avg * (period-1) + x) / period.
 * RSI = 100 - 100 / (1 + avgGain / avgLoss); 100 when avgLoss is 0, 50 when both are 0.
 * First value at index `period`. Inputs must be finite (a NaN makes the rest NaN).
 */
export function rsi(values: Float64Array, period: number): Float64Array {
  checkPeriod(period, 'rsi');
  const n = values.length;
  const out = new Float64Array(n).fill(NaN);
  if (n <= period) return out;
  let gain = 0;
  let loss = 0;
  for (let i = 1; i <= period; i++) {
    const d = values[i] - values[i - 1];
    if (d > 0) gain += d;
    else loss -= d;
  }
  gain /= period;
  loss /= period;
  out[period] = rsiValue(gain, loss);
  for (let i = period + 1; i < n; i++) {
    const d = values[i] - values[i - 1];
    gain = (gain * (period - 1) + (d > 0 ? d : 0)) / period;
    loss = (loss * (period - 1) + (d < 0 ? -d : 0)) / period;
    out[i] = rsiValue(gain, loss);
  }
  return out;
}

function rsiValue(gain: number, loss: number): number {
  if (Number.isNaN(gain) || Number.isNaN(loss)) return NaN;
  if (loss === 0) return gain === 0 ? 50 : 100;
  return 100 - 100 / (1 + gain / loss);
}

/** Simple returns r[i] = v[i] / v[i-1] - 1 (r[0] = NaN). */
export function returns(values: Float64Array): Float64Array {
  const n = values.length;
  const out = new Float64Array(n);
  if (n > 0) out[0] = NaN;
  for (let i = 1; i < n; i++) out[i] = values[i] / values[i - 1] - 1;
  return out;
}

/** Log returns r[i] = ln(v[i] / v[i-1]) (r[0] = NaN). */
export function logReturns(values: Float64Array): Float64Array {
  const n = values.length;
  const out = new Float64Array(n);
  if (n > 0) out[0] = NaN;
  for (let i = 1; i < n; i++) out[i] = Math.log(values[i] / values[i - 1]);
  return out;
}

/**
 * Rolling standard deviation over the last `period` values, with `ddof` degrees of freedom
 * (1 = sample std, the default, like pandas; 0 = population std). NaN while fewer than `period`
 * values are available or when a NaN is inside the window.
 */
export function rollingStd(values: Float64Array, period: number, ddof = 1): Float64Array {
  checkPeriod(period, 'rollingStd', ddof + 1);
  const n = values.length;
  const out = new Float64Array(n).fill(NaN);
  // Sums of (v - shift) limit cancellation when values are large relative to their spread.
  let shift = NaN;
  for (let i = 0; i < n && Number.isNaN(shift); i++)
    if (!Number.isNaN(values[i])) shift = values[i];
  let s1 = 0;
  let s2 = 0;
  let nan = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (Number.isNaN(v)) nan++;
    else {
      const d = v - shift;
      s1 += d;
      s2 += d * d;
    }
    if (i >= period) {
      const old = values[i - period];
      if (Number.isNaN(old)) nan--;
      else {
        const d = old - shift;
        s1 -= d;
        s2 -= d * d;
      }
    }
    if (i >= period - 1 && nan === 0) {
      const variance = (s2 - (s1 * s1) / period) / (period - ddof);
      out[i] = Math.sqrt(Math.max(0, variance));
    }
  }
  return out;
}
