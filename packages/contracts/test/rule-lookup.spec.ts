import 'reflect-metadata';
import { IsInt, Min } from 'class-validator';
import { validatePayload } from '../src/validation';

describe('memoised class-validator rule lookup', () => {
  class First {
    @IsInt()
    @Min(1)
    n!: number;
  }

  it('gives the same answers on repeated validations', () => {
    for (let k = 0; k < 3; k++) {
      expect(validatePayload(First, { n: 2 })).toMatchObject({ ok: true });
      expect(validatePayload(First, { n: 0 })).toEqual({
        ok: false,
        errors: ['n must not be less than 1'],
      });
      expect(validatePayload(First, { n: 1, extra: 1 })).toEqual({
        ok: false,
        errors: ['extra: unknown field (not allowed)'],
      });
    }
  });

  it('sees the rules of a class defined after a first validation, and of a subclass', () => {
    expect(validatePayload(First, { n: 2 })).toMatchObject({ ok: true });
    class Later {
      @Min(10)
      m!: number;
    }
    class Child extends First {
      @Min(5)
      k!: number;
    }
    expect(validatePayload(Later, { m: 3 })).toEqual({
      ok: false,
      errors: ['m must not be less than 10'],
    });
    expect(validatePayload(Child, { n: 0, k: 1 })).toEqual({
      ok: false,
      errors: ['k must not be less than 5', 'n must not be less than 1'],
    });
  });

  it('a rule added to a class already looked up applies from then on', () => {
    class Grows {
      @IsInt()
      n!: number;
    }
    expect(validatePayload(Grows, { n: 2 })).toMatchObject({ ok: true });
    Min(3)(Grows.prototype, 'n');
    expect(validatePayload(Grows, { n: 2 })).toEqual({
      ok: false,
      errors: ['n must not be less than 3'],
    });
  });
});
