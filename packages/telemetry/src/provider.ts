/**
 * The heavy half of startTelemetry (SDK, OTLP exporter, instrumentations), loaded only when
 * tracing is on.
 */
import { diag, DiagLogLevel } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { registerInstrumentations, type Instrumentation } from '@opentelemetry/instrumentation';
import { ExpressInstrumentation, ExpressLayerType } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { NestInstrumentation } from '@opentelemetry/instrumentation-nestjs-core';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { ATTR } from './attributes';
import {
  DEFAULT_OTLP_ENDPOINT,
  isUntracedRequest,
  rateLimitedDiagLogger,
  tracesUrl,
  type TelemetryHandle,
  type TelemetryOptions,
} from './sdk';

function instrumentations(): Instrumentation[] {
  return [
    new HttpInstrumentation({
      ignoreIncomingRequestHook: (req) =>
        isUntracedRequest(req.method, req.url, typeof req.headers.traceparent === 'string'),
      // Outgoing calls of this process that are not part of a trace (health probes, heartbeats,
      // registration) make no spans; the OTLP exporter's own requests are never traced.
      requireParentforOutgoingSpans: true,
    }),
    new ExpressInstrumentation({
      // Body parsers, CORS, metrics timing: one span each per request is noise.
      ignoreLayersType: [ExpressLayerType.MIDDLEWARE],
    }),
    new NestInstrumentation(),
    new PgInstrumentation({ requireParentSpan: true }),
    new UndiciInstrumentation({ requireParentforSpans: true }),
  ];
}

export function createProvider(
  options: TelemetryOptions,
  settings: { enabled: boolean; endpoint?: string; service_name?: string },
  environment: string,
): TelemetryHandle {
  diag.setLogger(options.diagLogger ?? rateLimitedDiagLogger(), DiagLogLevel.WARN);
  const serviceName = settings.service_name ?? options.serviceName;
  const attributes: Record<string, string> = {
    [ATTR_SERVICE_NAME]: serviceName,
    'deployment.environment.name': environment,
  };
  if (options.version) attributes[ATTR_SERVICE_VERSION] = options.version;
  if (options.workerId) {
    attributes['service.instance.id'] = options.workerId;
    attributes[ATTR.WORKER_ID] = options.workerId;
  }
  if (options.workerType) attributes[ATTR.WORKER_TYPE] = options.workerType;

  const endpoint = options.exporter ? null : (settings.endpoint ?? DEFAULT_OTLP_ENDPOINT);
  const exporter =
    options.exporter ??
    new OTLPTraceExporter({
      url: tracesUrl(endpoint ?? DEFAULT_OTLP_ENDPOINT),
      timeoutMillis: 5_000,
    });
  const processor: SpanProcessor = options.simpleProcessor
    ? new SimpleSpanProcessor(exporter)
    : new BatchSpanProcessor(exporter, { scheduledDelayMillis: 2_000, maxQueueSize: 4_096 });
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes(attributes),
    spanProcessors: [processor],
    // A training reports one event per epoch on its run span.
    spanLimits: { eventCountLimit: 2_000, attributeValueLengthLimit: 4_096 },
  });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  const instrument = options.instrumentations !== false;
  if (instrument)
    registerInstrumentations({ tracerProvider: provider, instrumentations: instrumentations() });
  return { serviceName, endpoint, provider, fetchInstrumented: instrument };
}
