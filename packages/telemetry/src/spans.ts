/**
 * Span helpers over @opentelemetry/api. With tracing off they cost a no-op span each and change
 * nothing: callers never need to check whether tracing is enabled.
 */
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanContext,
  type TimeInput,
} from '@opentelemetry/api';
import { errorText } from '@ktrdr/contracts/constants';
import { ATTR, SPAN } from './attributes';
import { fetchInstrumented } from './sdk';

export const TRACER_NAME = '@ktrdr/telemetry';

export interface SpanOptions {
  attributes?: Attributes;
  /** Parent context; default the active one. */
  parent?: Context;
  /** Start a new trace (ignores the active span). */
  root?: boolean;
  links?: Link[];
  kind?: SpanKind;
  startTime?: TimeInput;
}

function tracer() {
  return trace.getTracer(TRACER_NAME);
}

/** Starts a span (not made active); end it yourself. */
export function startSpan(name: string, options: SpanOptions = {}): Span {
  const parent = options.root ? ROOT_CONTEXT : (options.parent ?? context.active());
  return tracer().startSpan(
    name,
    {
      attributes: options.attributes,
      links: options.links,
      kind: options.kind ?? SpanKind.INTERNAL,
      startTime: options.startTime,
      root: options.root,
    },
    parent,
  );
}

/** The context in which `span` is the active span (child spans of it are created in there). */
export function contextWithSpan(span: Span, parent: Context = context.active()): Context {
  return trace.setSpan(parent, span);
}

/** Marks a span failed with the operation's reason (status ERROR + `ktrdr.error.message`). */
export function failSpan(span: Span, reason: unknown): void {
  const message = errorText(reason);
  if (reason instanceof Error) span.recordException(reason);
  span.setAttribute(ATTR.ERROR_MESSAGE, message.slice(0, 4_000));
  span.setStatus({ code: SpanStatusCode.ERROR, message: message.slice(0, 500) });
}

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/**
 * Runs `fn` inside a new active span and ends it when `fn` returns or its promise settles. A throw
 * or rejection is recorded on the span (status ERROR) and rethrown.
 */
export function withSpan<T>(name: string, options: SpanOptions, fn: (span: Span) => T): T {
  const span = startSpan(name, options);
  const ctx = contextWithSpan(span, options.root ? ROOT_CONTEXT : (options.parent ?? undefined));
  let result: T;
  try {
    result = context.with(ctx, () => fn(span));
  } catch (err) {
    failSpan(span, err);
    span.end();
    throw err;
  }
  if (isPromiseLike(result)) {
    return Promise.resolve(result).then(
      (v) => {
        span.end();
        return v;
      },
      (err: unknown) => {
        failSpan(span, err);
        span.end();
        throw err;
      },
    ) as T;
  }
  span.end();
  return result;
}

/** Runs `fn` with `ctx` active (no change when `ctx` is undefined). */
export function runInContext<T>(ctx: Context | undefined, fn: () => T): T {
  return ctx ? context.with(ctx, fn) : fn();
}

/** `{ trace_id, span_id }` of the active span, or `{}` (for log lines). */
export function traceFields(): { trace_id?: string; span_id?: string } {
  const sc = trace.getActiveSpan()?.spanContext();
  if (!sc || !trace.isSpanContextValid(sc)) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId };
}

/**
 * W3C trace context headers (`traceparent`, `tracestate`) of `ctx` (default: the active one) for
 * an outgoing request. Empty when outgoing HTTP is instrumented: the http (node:http) and undici
 * (fetch) instrumentations inject them themselves (from the context active when the request is
 * made, see runInContext) and a second `traceparent` would make the header invalid.
 */
export function traceHeaders(ctx: Context = context.active()): Record<string, string> {
  if (fetchInstrumented()) return {};
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** The context carried by W3C headers (for processes that receive them without instrumentation). */
export function contextFromHeaders(
  headers: Record<string, string | string[] | undefined>,
): Context {
  return propagation.extract(ROOT_CONTEXT, headers, {
    get: (carrier, key) => carrier[key],
    keys: (carrier) => Object.keys(carrier),
  });
}

/** The span context active in `ctx`, when valid. */
export function spanContextOf(ctx: Context | undefined): SpanContext | undefined {
  if (!ctx) return undefined;
  const sc = trace.getSpanContext(ctx);
  return sc && trace.isSpanContextValid(sc) ? sc : undefined;
}

interface AttemptEntry {
  attempt: number;
  span: Span;
  context: Context;
}

export interface BeginAttemptOptions {
  /** Parent of the first attempt (the submit request). Later attempts start their own trace. */
  parent?: Context;
  attributes?: Attributes;
  startTime?: TimeInput;
  /** Why this attempt exists when it is not the first (`ktrdr.redispatch.reason`). */
  reason?: string;
}

/**
 * One span per operation attempt, kept while the attempt runs so that every later step of it
 * (queued, worker selection, dispatch, progress and completion reports, cancellation) joins the
 * same trace. Attempt 1 is a child of the submit request; a re-dispatch starts a new trace whose
 * attempt span links to the first attempt (and to the previous one). In memory, bounded: after a
 * backend restart the next attempt of an operation starts a fresh, unlinked trace.
 */
export class AttemptContexts {
  private readonly attempts = new Map<string, AttemptEntry>();
  private readonly first = new Map<string, SpanContext>();

  constructor(private readonly maxOperations = 10_000) {}

  /** Starts the span of `attempt` (ending a previous attempt's span still open). */
  begin(operationId: string, attempt: number, options: BeginAttemptOptions = {}): Context {
    const previous = this.attempts.get(operationId);
    if (previous) this.end(operationId, 'superseded');
    const firstCtx = this.first.get(operationId);
    const links: Link[] = [];
    if (firstCtx) links.push({ context: firstCtx, attributes: { 'ktrdr.link': 'first_attempt' } });
    const prevCtx = previous?.span.spanContext();
    if (prevCtx && trace.isSpanContextValid(prevCtx) && prevCtx.spanId !== firstCtx?.spanId) {
      links.push({ context: prevCtx, attributes: { 'ktrdr.link': 'previous_attempt' } });
    }
    const isFirst = !firstCtx && !previous;
    const attributes: Attributes = {
      ...options.attributes,
      [ATTR.OPERATION_ID]: operationId,
      [ATTR.ATTEMPT]: attempt,
    };
    if (options.reason) attributes[ATTR.REDISPATCH_REASON] = options.reason;
    const span = startSpan(SPAN.ATTEMPT, {
      attributes,
      links,
      startTime: options.startTime,
      ...(isFirst ? { parent: options.parent } : { root: true }),
    });
    const ctx = trace.setSpan(isFirst && options.parent ? options.parent : ROOT_CONTEXT, span);
    this.attempts.set(operationId, { attempt, span, context: ctx });
    const sc = span.spanContext();
    if (!firstCtx && trace.isSpanContextValid(sc)) this.first.set(operationId, sc);
    this.evict();
    return ctx;
  }

  /** The context of the operation's current attempt (of `attempt` when given), if known. */
  context(operationId: string, attempt?: number): Context | undefined {
    const e = this.attempts.get(operationId);
    if (!e || (attempt !== undefined && e.attempt !== attempt)) return undefined;
    return e.context;
  }

  /** The current attempt span of the operation. */
  span(operationId: string): Span | undefined {
    return this.attempts.get(operationId)?.span;
  }

  /** The attempt number the store knows for the operation. */
  attempt(operationId: string): number | undefined {
    return this.attempts.get(operationId)?.attempt;
  }

  /**
   * Ends the current attempt's span with the operation's status; `error` marks it failed with the
   * reason. The link target (first attempt) is kept for a later re-dispatch.
   */
  end(operationId: string, status: string, error?: string | null, attempt?: number): void {
    const e = this.attempts.get(operationId);
    if (!e || (attempt !== undefined && e.attempt !== attempt)) return;
    this.attempts.delete(operationId);
    e.span.setAttribute(ATTR.STATUS, status);
    if (error) failSpan(e.span, error);
    e.span.end();
  }

  /** Ends every open attempt span (process shutdown). */
  endAll(status: string): void {
    for (const id of [...this.attempts.keys()]) this.end(id, status);
  }

  /** Forgets an operation entirely (its span, if open, ends as `forgotten`). */
  forget(operationId: string): void {
    this.end(operationId, 'forgotten');
    this.first.delete(operationId);
  }

  get size(): number {
    return this.attempts.size;
  }

  private evict(): void {
    while (this.attempts.size > this.maxOperations) {
      const oldest = this.attempts.keys().next().value as string;
      this.end(oldest, 'evicted');
    }
    while (this.first.size > this.maxOperations * 2) {
      this.first.delete(this.first.keys().next().value as string);
    }
  }
}

export { context, SpanKind, SpanStatusCode, trace };
export type { Attributes, Context, Link, Span, SpanContext, TimeInput };
