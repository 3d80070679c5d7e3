import { withEnv } from '@ktrdr/config';
import { startTelemetry, traceFields, traceHeaders, tracingEnabled, withSpan } from '../src';
import { rateLimitedDiagLogger, tracesUrl } from '../src/sdk';

describe('tracing off (the default)', () => {
  it('starts nothing and the helpers still run the code', async () => {
    expect(startTelemetry({ serviceName: 'x', settings: { enabled: false } })).toBeNull();
    expect(tracingEnabled()).toBe(false);
    expect(withSpan('a', {}, () => 42)).toBe(42);
    await expect(withSpan('b', {}, async () => 'ok')).resolves.toBe('ok');
    expect(() =>
      withSpan('c', {}, () => {
        throw new Error('kept');
      }),
    ).toThrow('kept');
    expect(traceFields()).toEqual({});
    expect(traceHeaders()).toEqual({});
  });

  it('reads KTRDR_OTEL_ENABLED (false by default)', () => {
    expect(withEnv({}, () => startTelemetry({ serviceName: 'x' }))).toBeNull();
  });
});

describe('helpers', () => {
  it('tracesUrl appends /v1/traces once', () => {
    expect(tracesUrl('http://jaeger:4318')).toBe('http://jaeger:4318/v1/traces');
    expect(tracesUrl('http://jaeger:4318/')).toBe('http://jaeger:4318/v1/traces');
    expect(tracesUrl('http://c:4318/v1/traces')).toBe('http://c:4318/v1/traces');
  });

  it('the diag logger writes each distinct message once per interval', () => {
    const lines: string[] = [];
    const log = rateLimitedDiagLogger((l) => lines.push(l), 60_000);
    log.error('export failed', new Error('ECONNREFUSED'));
    log.error('export failed', new Error('ECONNREFUSED'));
    log.warn('other');
    expect(lines).toEqual([
      '[telemetry] ERROR export failed ECONNREFUSED',
      '[telemetry] WARN other',
    ]);
  });
});
