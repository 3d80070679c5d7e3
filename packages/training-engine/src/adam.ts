/**
 * Adam optimiser (Kingma & Ba) over a flat parameter vector, with bias correction.
 * Its state (step count and both moment vectors) is saved in training checkpoints.
 */
export interface AdamOptions {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export class Adam {
  readonly m: Float64Array;
  readonly v: Float64Array;
  t: number;
  private readonly lr: number;
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;

  constructor(
    size: number,
    opts: AdamOptions,
    state?: { t: number; m: ArrayLike<number>; v: ArrayLike<number> },
  ) {
    this.lr = opts.learningRate;
    this.b1 = opts.beta1 ?? 0.9;
    this.b2 = opts.beta2 ?? 0.999;
    this.eps = opts.epsilon ?? 1e-8;
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
    this.t = 0;
    if (state) {
      if (state.m.length !== size || state.v.length !== size) {
        throw new RangeError(
          `Adam state has ${state.m.length}/${state.v.length} moments, expected ${size}`,
        );
      }
      this.m.set(state.m);
      this.v.set(state.v);
      this.t = state.t;
    }
  }

  /** One update: params -= lr * m̂ / (sqrt(v̂) + eps). */
  step(params: Float64Array, grad: Float64Array): void {
    this.t++;
    const { m, v, b1, b2, eps } = this;
    const c1 = 1 - Math.pow(b1, this.t);
    const c2 = 1 - Math.pow(b2, this.t);
    const lr = this.lr;
    for (let i = 0; i < params.length; i++) {
      const g = grad[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      params[i] -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + eps);
    }
  }
}
