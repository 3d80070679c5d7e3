import 'reflect-metadata';
import {
  SIGNATURE_HEADER,
  SIGNATURE_NONCE_HEADER,
  SIGNATURE_TIMESTAMP_HEADER,
  SignatureVerifier,
  PATH_MESSAGE_PATTERN,
  findUnsafeInput,
  signRequest,
  toStorableText,
  validatePayload,
  RegisterWorkerRequestDto,
} from '../src/index';

function deep(levels: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = { a: v };
  return v;
}

describe('findUnsafeInput', () => {
  it('accepts ordinary payloads', () => {
    expect(findUnsafeInput({ a: [1, 'x', { b: null, c: 'é😀' }] })).toBeNull();
    expect(findUnsafeInput(deep(63))).toBeNull();
  });

  it('names the path of a forbidden key', () => {
    expect(findUnsafeInput(JSON.parse('{"metadata":{"__proto__":{"x":1}}}'))).toBe(
      'metadata.__proto__: the key "__proto__" is not allowed',
    );
    expect(findUnsafeInput({ result: { trades: [{}, { constructor: 1 }] } })).toBe(
      'result.trades.1.constructor: the key "constructor" is not allowed',
    );
    expect(findUnsafeInput({ prototype: 1 })).toBe('prototype: the key "prototype" is not allowed');
  });

  it('refuses nesting beyond the limit without recursing (100,000 levels)', () => {
    expect(findUnsafeInput(deep(65))).toMatch(/^a(\.a){63} is nested too deeply/);
    const text = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(findUnsafeInput({ x: JSON.parse(text) })).toMatch(/^x(\.0){63} is nested too deeply/);
  });

  it('refuses NUL characters and unpaired surrogates in values and keys, naming the field', () => {
    expect(findUnsafeInput({ error_message: 'a\u0000b' })).toBe(
      'error_message must not contain NUL characters or unpaired UTF-16 surrogates',
    );
    expect(findUnsafeInput({ p: { message: 'x\ud800' } })).toMatch(/^p\.message must not/);
    expect(findUnsafeInput({ p: ['\udc00y'] })).toMatch(/^p\.0 must not/);
    expect(findUnsafeInput({ m: { 'k\u0000': 1 } })).toMatch(/^m has a key with NUL/);
    expect(findUnsafeInput({ ok: '😀' })).toBeNull();
  });

  it('validatePayload reports it before any transformation', () => {
    const out = validatePayload(RegisterWorkerRequestDto, { worker_id: 'w', constructor: {} });
    expect(out).toEqual({
      ok: false,
      errors: ['constructor: the key "constructor" is not allowed'],
    });
  });

  it('toStorableText replaces what cannot be stored', () => {
    expect(toStorableText('a\u0000b\ud800c😀')).toBe('a\uFFFDb\uFFFDc😀');
  });
});

describe('PATH_MESSAGE_PATTERN', () => {
  it('matches messages that start with a field path, and nothing else', () => {
    for (const m of [
      'body is not valid JSON',
      'strategy.fast_period must be less than slow_period',
      '["H*t{1yL"]: unknown field (not allowed)',
      'strategy[""]: unknown field (not allowed)',
      'completed_operations.0.lease_token is required',
      'metadata has a key with NUL characters',
      '73: unknown field (not allowed)',
    ])
      expect([m, PATH_MESSAGE_PATTERN.test(m)]).toEqual([m, true]);
    for (const m of [
      'Operation op_1 is already completed',
      'Bad Request',
      'Internal server error',
      '',
    ])
      expect([m, PATH_MESSAGE_PATTERN.test(m)]).toEqual([m, false]);
  });

  it('formatValidationErrors quotes keys that are not plain identifiers', () => {
    const out = validatePayload(RegisterWorkerRequestDto, {
      worker_id: 'w',
      worker_type: 'backtesting',
      endpoint_url: 'http://w:1',
      'a b': 1,
    });
    expect(out).toEqual({ ok: false, errors: ['["a b"]: unknown field (not allowed)'] });
  });
});

describe('signed calls', () => {
  const token = 'x'.repeat(40);
  const at = 1_700_000_000_000;

  it('accepts a signed call once, and only unchanged', () => {
    const v = new SignatureVerifier(token, 30_000, () => at + 1000);
    const body = '{"operation_id":"op-1"}';
    const headers = signRequest(token, { method: 'POST', path: '/backtests/start', body, now: at });
    expect(v.verify({ method: 'POST', path: '/backtests/start', headers, body })).toEqual({
      ok: true,
    });
    expect(v.verify({ method: 'POST', path: '/backtests/start', headers, body })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/replayed/),
    });
    const h2 = signRequest(token, { method: 'POST', path: '/backtests/start', body, now: at });
    for (const [method, path, b] of [
      ['POST', '/backtests/start', '{"operation_id":"op-2"}'],
      ['POST', '/trainings/start', body],
      ['DELETE', '/backtests/start', body],
    ] as const) {
      expect(v.verify({ method, path, headers: h2, body: b })).toMatchObject({
        ok: false,
        reason: expect.stringMatching(/does not match/),
      });
    }
  });

  it('refuses unsigned, malformed, wrongly keyed and expired calls', () => {
    const v = new SignatureVerifier(token, 30_000, () => at);
    const path = '/backend-shutdown';
    expect(v.verify({ method: 'POST', path, headers: {}, body: undefined })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^unsigned request/),
    });
    const good = signRequest(token, { method: 'POST', path, now: at });
    expect(
      v.verify({
        method: 'POST',
        path,
        headers: { ...good, [SIGNATURE_HEADER]: 'v1=zz' },
        body: '',
      }),
    ).toMatchObject({ ok: false });
    expect(
      v.verify({
        method: 'POST',
        path,
        headers: { ...good, [SIGNATURE_NONCE_HEADER]: 'a b' },
        body: '',
      }),
    ).toMatchObject({ ok: false });
    const other = signRequest('y'.repeat(40), { method: 'POST', path, now: at });
    expect(v.verify({ method: 'POST', path, headers: other, body: '' })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/does not match/),
    });
    const old = signRequest(token, { method: 'POST', path, now: at - 31_000 });
    expect(v.verify({ method: 'POST', path, headers: old, body: '' })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/expired/),
    });
    const future = signRequest(token, { method: 'POST', path, now: at + 31_000 });
    expect(v.verify({ method: 'POST', path, headers: future, body: undefined })).toMatchObject({
      ok: false,
    });
    expect(good[SIGNATURE_TIMESTAMP_HEADER]).toBe(String(at));
    expect(v.verify({ method: 'POST', path, headers: good, body: undefined })).toEqual({
      ok: true,
    });
  });
});
