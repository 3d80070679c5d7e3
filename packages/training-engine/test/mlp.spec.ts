import { Adam } from '../src/adam';
import { fitMlp, FitData, FitOptions } from '../src/fit';
import { bceWithLogit, initParams, mlpLayout, MlpRunner, sigmoid } from '../src/mlp';
import { Rng } from '../src/rng';

function randomData(rng: Rng, n: number, cols: number): { x: Float64Array; y: Float64Array } {
  const x = new Float64Array(n * cols);
  const y = new Float64Array(n);
  for (let i = 0; i < x.length; i++) x[i] = rng.uniform(-2, 2);
  for (let i = 0; i < n; i++) y[i] = rng.next() < 0.5 ? 1 : 0;
  return { x, y };
}

describe('Rng', () => {
  it('is deterministic per seed and resumes from its saved state', () => {
    const a = Rng.fromSeed(7);
    const b = Rng.fromSeed(7);
    const c = Rng.fromSeed(8);
    const seqA = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(seqA);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(seqA);
    const saved = a.state();
    const restored = Rng.fromState(JSON.parse(JSON.stringify(saved)) as number[]);
    expect(Array.from({ length: 5 }, () => restored.next())).toEqual(
      Array.from({ length: 5 }, () => a.next()),
    );
  });

  it('rejects a malformed state', () => {
    expect(() => Rng.fromState([1, 2, 3])).toThrow(/RNG state/);
    expect(() => Rng.fromState([1, 2, 3, -1])).toThrow(/RNG state/);
  });

  it('shuffles into a permutation', () => {
    const arr = new Uint32Array(100).map((_, i) => i);
    Rng.fromSeed(1).shuffle(arr);
    expect(Array.from(arr).sort((p, q) => p - q)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(arr)).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});

describe('MLP maths', () => {
  it('sigmoid and BCE are stable for large logits', () => {
    expect(sigmoid(1000)).toBe(1);
    expect(sigmoid(-1000)).toBe(0);
    expect(sigmoid(0)).toBe(0.5);
    expect(bceWithLogit(0, 1)).toBeCloseTo(Math.log(2), 12);
    expect(bceWithLogit(-1000, 1)).toBeCloseTo(1000, 6);
    expect(bceWithLogit(1000, 1)).toBe(0);
    expect(Number.isFinite(bceWithLogit(-1e6, 1))).toBe(true);
  });

  it('rejects invalid layer sizes', () => {
    expect(() => mlpLayout(0, [4])).toThrow(/layer size/);
    expect(() => mlpLayout(3, [2.5])).toThrow(/layer size/);
  });

  it.each([[[]], [[5]], [[6, 4]], [[4, 3, 2]]])(
    'analytic gradient matches a numerical gradient (hidden %j)',
    (hidden) => {
      const rng = Rng.fromSeed(123);
      const cols = 4;
      const n = 9;
      const layout = mlpLayout(cols, hidden);
      const params = initParams(layout, rng);
      // Non-zero biases so ReLU units sit away from their kink.
      for (let l = 0; l < layout.bOffset.length; l++) {
        for (let j = 0; j < layout.sizes[l + 1]; j++)
          params[layout.bOffset[l] + j] = rng.uniform(-0.3, 0.3);
      }
      const { x, y } = randomData(rng, n, cols);
      const rows = new Uint32Array([3, 0, 7, 1, 8, 5]);
      const runner = new MlpRunner(layout, 16);
      const grad = new Float64Array(layout.total);
      runner.lossAndGradient(params, grad, x, y, rows, 0, rows.length);
      const scratch = new Float64Array(layout.total);
      const h = 1e-6;
      let maxRel = 0;
      for (let i = 0; i < layout.total; i++) {
        const saved = params[i];
        params[i] = saved + h;
        const up = runner.lossAndGradient(params, scratch, x, y, rows, 0, rows.length);
        params[i] = saved - h;
        const down = runner.lossAndGradient(params, scratch, x, y, rows, 0, rows.length);
        params[i] = saved;
        const numeric = (up - down) / (2 * h);
        const rel =
          Math.abs(numeric - grad[i]) / Math.max(1e-6, Math.abs(numeric) + Math.abs(grad[i]));
        maxRel = Math.max(maxRel, rel);
      }
      expect(maxRel).toBeLessThan(1e-5);
      // Non-trivial gradients, so the comparison above is meaningful.
      expect(grad.some((g) => Math.abs(g) > 1e-4)).toBe(true);
    },
  );

  it('loss of a forward pass equals the mean BCE of its logits', () => {
    const rng = Rng.fromSeed(5);
    const layout = mlpLayout(3, [4]);
    const params = initParams(layout, rng);
    const { x, y } = randomData(rng, 10, 3);
    const runner = new MlpRunner(layout, 10);
    const z = Array.from(runner.forward(params, x, null, 0, 10));
    const expected = z.reduce((s, zi, i) => s + bceWithLogit(zi, y[i]), 0) / 10;
    const grad = new Float64Array(layout.total);
    expect(runner.lossAndGradient(params, grad, x, y, null, 0, 10)).toBeCloseTo(expected, 12);
    expect(runner.evaluate(params, x, y, 10).loss).toBeCloseTo(expected, 12);
  });

  it('Adam minimises a quadratic', () => {
    const p = new Float64Array([5, -3]);
    const adam = new Adam(2, { learningRate: 0.1 });
    const g = new Float64Array(2);
    for (let i = 0; i < 500; i++) {
      g[0] = 2 * (p[0] - 1);
      g[1] = 2 * (p[1] + 2);
      adam.step(p, g);
    }
    expect(p[0]).toBeCloseTo(1, 2);
    expect(p[1]).toBeCloseTo(-2, 2);
    expect(adam.t).toBe(500);
    expect(() => new Adam(3, { learningRate: 0.1 }, { t: 1, m: [0], v: [0] })).toThrow(/moments/);
  });
});

/** Two classes separated by a circle (not linearly separable), with a time-ordered split. */
function circleData(seed: number, n: number, nVal: number): FitData {
  const rng = Rng.fromSeed(seed);
  const make = (m: number): { x: Float64Array; y: Float64Array } => {
    const x = new Float64Array(m * 2);
    const y = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      const a = rng.uniform(-2, 2);
      const b = rng.uniform(-2, 2);
      x[2 * i] = a;
      x[2 * i + 1] = b;
      y[i] = a * a + b * b < 1.5 ? 1 : 0;
    }
    return { x, y };
  };
  const tr = make(n);
  const va = make(nVal);
  return { cols: 2, xTrain: tr.x, yTrain: tr.y, nTrain: n, xVal: va.x, yVal: va.y, nVal };
}

const OPTS: FitOptions = {
  hidden_layers: [16, 8],
  epochs: 60,
  learning_rate: 0.01,
  batch_size: 32,
  early_stopping: { patience: 0, min_delta: 0 },
  seed: 3,
};

describe('fitMlp learns', () => {
  it('reaches high accuracy on a non-linear separable problem with decreasing loss', () => {
    const data = circleData(11, 1500, 500);
    const out = fitMlp(data, OPTS);
    expect(out.outcome).toBe('completed');
    const h = out.state.history;
    expect(h).toHaveLength(60);
    // Loss of the untrained network (same seed => same initial weights).
    const layout = mlpLayout(2, OPTS.hidden_layers);
    const init = initParams(layout, Rng.fromSeed(OPTS.seed));
    const initial = new MlpRunner(layout, 256).evaluate(
      init,
      data.xTrain,
      data.yTrain,
      data.nTrain,
    );
    expect(initial.loss).toBeGreaterThan(0.6);
    expect(h[0].train_loss).toBeLessThan(initial.loss);
    expect(h[59].train_loss).toBeLessThan(0.15);
    expect(h[59].train_loss).toBeLessThan(h[0].train_loss * 0.5);
    // Mostly decreasing: the loss of the last 10 epochs is below that of epochs 1..10.
    const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(h.slice(50).map((e) => e.train_loss))).toBeLessThan(
      mean(h.slice(0, 10).map((e) => e.train_loss)),
    );
    expect(h[59].train_accuracy).toBeGreaterThan(0.95);
    expect(h[59].val_accuracy).toBeGreaterThan(0.93);
    // A linear model (no hidden layer) cannot separate a circle: the MLP must beat it clearly.
    const linear = fitMlp(data, { ...OPTS, hidden_layers: [] });
    expect(linear.state.history[59].val_accuracy as number).toBeLessThan(0.8);
  });

  it('does not learn when labels are random (no leakage of labels)', () => {
    const data = circleData(12, 800, 400);
    const rng = Rng.fromSeed(99);
    for (let i = 0; i < data.nVal; i++) data.yVal[i] = rng.next() < 0.5 ? 1 : 0;
    const out = fitMlp(data, { ...OPTS, epochs: 20 });
    const last = out.state.history[19];
    expect(last.val_accuracy as number).toBeLessThan(0.65);
  });

  it('is deterministic for a seed and differs with another seed', () => {
    const data = circleData(13, 300, 100);
    const a = fitMlp(data, { ...OPTS, epochs: 5 });
    const b = fitMlp(data, { ...OPTS, epochs: 5 });
    const c = fitMlp(data, { ...OPTS, epochs: 5, seed: 4 });
    expect(a.state.params).toEqual(b.state.params);
    expect(a.state.history).toEqual(b.state.history);
    expect(c.state.params).not.toEqual(a.state.params);
  });

  it('stops early and keeps the best weights', () => {
    const data = circleData(14, 400, 200);
    // Labels of validation are noise, so the validation loss soon stops improving.
    const rng = Rng.fromSeed(1);
    for (let i = 0; i < data.nVal; i++) data.yVal[i] = rng.next() < 0.5 ? 1 : 0;
    const out = fitMlp(data, {
      ...OPTS,
      epochs: 200,
      early_stopping: { patience: 3, min_delta: 0 },
    });
    const s = out.state;
    expect(s.stopped_early).toBe(true);
    expect(s.epoch).toBeLessThan(200);
    const best = s.best!;
    expect(s.epoch - best.epoch).toBe(3);
    const losses = s.history.map((e) => e.val_loss as number);
    expect(best.loss).toBe(Math.min(...losses));
    expect(Array.from(out.params!)).toEqual(best.params);
    expect(Array.from(out.params!)).not.toEqual(s.params);
  });

  it('min_delta makes small improvements not count', () => {
    const data = circleData(15, 400, 200);
    const out = fitMlp(data, {
      ...OPTS,
      epochs: 100,
      early_stopping: { patience: 2, min_delta: 1 },
    });
    // No epoch can improve a loss < 1 by more than 1 after the first.
    expect(out.state.epoch).toBe(3);
    expect(out.state.best!.epoch).toBe(1);
  });

  it('without validation data monitors the training loss and reports null validation metrics', () => {
    const data = circleData(16, 300, 0);
    const out = fitMlp(data, { ...OPTS, epochs: 3 });
    expect(out.state.history[2].val_loss).toBeNull();
    expect(out.state.history[2].val_accuracy).toBeNull();
    expect(out.state.best!.loss).toBe(Math.min(...out.state.history.map((e) => e.train_loss)));
  });
});
