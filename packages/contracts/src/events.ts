/**
 * Names of the live event stream `GET /api/v1/events` (no decorators: safe to load in light clients).
 * The DTOs are in event.dto.ts.
 */

/** What happened to an operation (the lifecycle kinds the backend emits). */
export const OPERATION_EVENT_KINDS = [
  'created',
  'queued',
  'dispatched',
  'running',
  'progress',
  'completed',
  'failed',
  'cancelled',
] as const;
export type OperationEventKind = (typeof OPERATION_EVENT_KINDS)[number];
export type OperationEventType = `operation.${OperationEventKind}`;

/** What happened to a worker. */
export const WORKER_EVENT_KINDS = ['registered', 'status_changed', 'removed'] as const;
export type WorkerEventKind = (typeof WORKER_EVENT_KINDS)[number];
export type WorkerEventType = `worker.${WorkerEventKind}`;

/** Events about the stream itself (sent to one client, not stored in the replay buffer). */
export const STREAM_EVENT_TYPES = ['stream.gap', 'stream.dropped'] as const;
export type StreamEventType = (typeof STREAM_EVENT_TYPES)[number];

export const OPERATION_EVENT_TYPES: readonly OperationEventType[] = OPERATION_EVENT_KINDS.map(
  (k) => `operation.${k}` as const,
);
export const WORKER_EVENT_TYPES: readonly WorkerEventType[] = WORKER_EVENT_KINDS.map(
  (k) => `worker.${k}` as const,
);

export type EventType = OperationEventType | WorkerEventType | StreamEventType;

/** Every event type, in documentation order (SSE `event:` names). */
export const EVENT_TYPES: readonly EventType[] = [
  ...OPERATION_EVENT_TYPES,
  ...WORKER_EVENT_TYPES,
  ...STREAM_EVENT_TYPES,
];

/** Operation events whose status is final. */
export const TERMINAL_OPERATION_EVENT_TYPES: readonly OperationEventType[] = [
  'operation.completed',
  'operation.failed',
  'operation.cancelled',
];
