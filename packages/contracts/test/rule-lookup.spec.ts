import 'reflect-metadata';
import * as classTransformer from 'class-transformer';
import { plainToInstance, Type } from 'class-transformer';
import * as classValidator from 'class-validator';
import {
  IsArray,
  IsDate,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  Min,
  ValidateNested,
} from 'class-validator';
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

describe('memo of payloads found valid', () => {
  class Inner {
    @IsInt()
    k!: number;
  }
  class Outer {
    @IsOptional()
    @IsString()
    s?: string;

    @IsOptional()
    @IsNumber()
    x?: number | null;

    @IsOptional()
    @ValidateNested()
    @Type(() => Inner)
    inner?: Inner;

    @IsOptional()
    @IsArray()
    @IsInt({ each: true })
    list?: number[];
  }

  it('answers a repeated text with a fresh instance of the class (nested classes too)', () => {
    const validated = jest.spyOn(classValidator, 'validateSync');
    const transformed = jest.spyOn(classTransformer, 'plainToInstance');
    const first = validatePayload(Outer, { s: 'a', inner: { k: 1 }, list: [1, 2] });
    const calls = [validated.mock.calls.length, transformed.mock.calls.length];
    expect(calls.every((n) => n > 0)).toBe(true); // the spies see the first (new) text's run
    if (!first.ok) throw new Error('expected valid');
    // What the caller does with its instance does not reach the next answer.
    first.value.inner!.k = 99;
    first.value.list!.push(3);
    const second = validatePayload(Outer, { s: 'a', inner: { k: 1 }, list: [1, 2] });
    const third = validatePayload(Outer, { s: 'a', inner: { k: 1 }, list: [1, 2] });
    // Neither validated nor transformed again.
    expect([validated.mock.calls.length, transformed.mock.calls.length]).toEqual(calls);
    validated.mockRestore();
    transformed.mockRestore();
    if (!second.ok || !third.ok) throw new Error('expected valid');
    expect(second.value).toBeInstanceOf(Outer);
    expect(second.value.inner).toBeInstanceOf(Inner);
    expect(second.value).toEqual(plainToInstance(Outer, { s: 'a', inner: { k: 1 }, list: [1, 2] }));
    expect(second.value).not.toBe(third.value);
    expect(second.value.inner).not.toBe(third.value.inner);
    expect(second.value.list).not.toBe(third.value.list);
  });

  it('copies the Dates class-transformer made', () => {
    class When {
      @Type(() => Date)
      @IsDate()
      at!: Date;
    }
    const iso = '2026-12-04T22:00:00.000Z';
    const a = validatePayload(When, { at: iso });
    const b = validatePayload(When, { at: iso });
    if (!a.ok || !b.ok) throw new Error('expected valid');
    expect(b.value.at).toBeInstanceOf(Date);
    expect(b.value.at.toISOString()).toBe(iso);
    expect(b.value.at).not.toBe(a.value.at);
  });

  it('a value that is not plain JSON data is validated even when its text was valid', () => {
    const iso = '2026-12-04T21:50:00.000Z';
    expect(validatePayload(Outer, { s: iso })).toMatchObject({ ok: true });
    expect(validatePayload(Outer, { s: new Date(iso) })).toEqual({
      ok: false,
      errors: ['s must be a string'],
    });
    expect(validatePayload(Outer, { x: null })).toMatchObject({ ok: true });
    expect(validatePayload(Outer, { x: NaN })).toMatchObject({ ok: false });
    expect(validatePayload(Outer, { x: Infinity })).toMatchObject({ ok: false });
  });

  it('a payload that is not valid is never remembered, and a large one is always validated', () => {
    for (let k = 0; k < 3; k++) {
      expect(validatePayload(Outer, { inner: { k: 1.5 } })).toEqual({
        ok: false,
        errors: ['inner.k must be an integer number'],
      });
    }
    const many = Array.from({ length: 100 }, (_, i) => i);
    for (let k = 0; k < 2; k++) {
      expect(validatePayload(Outer, { list: many })).toMatchObject({ ok: true });
      expect(validatePayload(Outer, { list: [...many, 0.5] })).toMatchObject({ ok: false });
    }
  });

  it('the same text is judged per class', () => {
    class Strict {
      @IsInt()
      @Min(5)
      x!: number;
    }
    expect(validatePayload(Outer, { x: 2 })).toMatchObject({ ok: true });
    expect(validatePayload(Strict, { x: 2 })).toEqual({
      ok: false,
      errors: ['x must not be less than 5'],
    });
  });
});
