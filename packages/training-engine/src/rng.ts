/**
 * Seeded PRNG (sfc32) whose whole state is four 32-bit integers, so it can be saved in a
 * JSON checkpoint and restored to continue the exact same sequence.
 */
export type RngState = [number, number, number, number];

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  private constructor(state: RngState) {
    [this.a, this.b, this.c, this.d] = state.map((x) => x >>> 0) as RngState;
  }

  /** A generator seeded from an integer (any finite number is reduced to 32 bits). */
  static fromSeed(seed: number): Rng {
    const s = Math.trunc(seed) >>> 0;
    const rng = new Rng([0x9e3779b9, 0x243f6a88, 0xb7e15162 ^ s, s]);
    for (let i = 0; i < 20; i++) rng.nextUint32(); // mix the seed in
    return rng;
  }

  /** A generator continuing from a saved state (see `state()`). */
  static fromState(state: readonly number[]): Rng {
    if (
      !Array.isArray(state) ||
      state.length !== 4 ||
      !state.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff)
    ) {
      throw new RangeError('Invalid RNG state: expected 4 unsigned 32-bit integers');
    }
    return new Rng([state[0], state[1], state[2], state[3]]);
  }

  /** The current state (4 unsigned 32-bit integers); JSON-serialisable. */
  state(): RngState {
    return [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0];
  }

  nextUint32(): number {
    let t = (this.a + this.b) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.d = (this.d + 1) | 0;
    t = (t + this.d) | 0;
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer uniform in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle(arr: Uint32Array | number[]): void {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = arr[i];
      arr[i] = arr[j];
      arr[j] = t;
    }
  }
}
