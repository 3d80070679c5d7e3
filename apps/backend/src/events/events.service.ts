import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  BadRequestException,
  Inject,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import {
  errorText,
  type EventsQueryDto,
  type EventType,
  type OperationEventPayloadDto,
  type OperationType,
  type StreamDroppedEventDto,
  type StreamGapEventDto,
  WORKER_TYPE_FOR_OPERATION,
  type WorkerStatus,
  type WorkerType,
} from '@ktrdr/contracts';
import { CLOCK, type Clock } from '../common/clock';
import { RetryLaterException } from '../common/errors';
import { ShutdownState } from '../common/shutdown-state';
import { BACKEND_SETTINGS, type BackendSettings } from '../config/settings';
import {
  LifecycleEvents,
  type OperationEvent,
  type WorkerEvent,
} from '../operations/lifecycle-events';
import type { OperationRecord } from '../persistence/operations.repository';

/** One event as kept in the replay buffer: its routing keys and its SSE frame, serialized once. */
export interface StoredEvent {
  readonly id: number;
  readonly type: EventType;
  readonly operationId: string | null;
  readonly operationType: OperationType | null;
  readonly sweepId: string | null;
  readonly workerType: WorkerType | null;
  readonly frame: string;
}

export interface EventFilter {
  operation_id?: string;
  sweep_id?: string;
  worker_type?: WorkerType;
}

type DropReason = StreamDroppedEventDto['payload']['reason'];

/** Milliseconds a dropped client gets to read its final frame before its socket is destroyed. */
export const DROP_GRACE_MS = 1000;

function frameOf(ev: { id: number; type: string }): string {
  return `id: ${ev.id}\nevent: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`;
}

export function matches(ev: StoredEvent, f: EventFilter): boolean {
  if (f.operation_id !== undefined || f.sweep_id !== undefined) {
    if (ev.operationId === null) return false;
    if (f.operation_id !== undefined && ev.operationId !== f.operation_id) return false;
    if (f.sweep_id !== undefined && ev.sweepId !== f.sweep_id) return false;
  }
  if (f.worker_type !== undefined) {
    if (ev.workerType !== null) return ev.workerType === f.worker_type;
    if (ev.operationType !== null)
      return WORKER_TYPE_FOR_OPERATION[ev.operationType].includes(f.worker_type);
  }
  return true;
}

export function toOperationEventPayload(r: OperationRecord): OperationEventPayloadDto {
  return {
    operation_id: r.operation_id,
    operation_type: r.operation_type,
    status: r.status,
    worker_id: r.worker_id,
    attempt: r.attempt,
    attempts: r.attempts.map((a) => ({ ...a })),
    sweep_id: r.sweep_id ?? null,
    priority: r.priority ?? 0,
    created_at: r.created_at.toISOString(),
    started_at: r.started_at ? r.started_at.toISOString() : null,
    completed_at: r.completed_at ? r.completed_at.toISOString() : null,
    progress: r.progress,
    error_message: r.error_message,
    checkpoint: r.checkpoint,
  };
}

/** The last `capacity` events; ids are consecutive, so lookup by id is index arithmetic. */
class ReplayBuffer {
  private readonly items: StoredEvent[] = [];
  private start = 0;

  constructor(private readonly capacity: number) {}

  push(ev: StoredEvent): void {
    this.items.push(ev);
    if (this.items.length - this.start > this.capacity) this.start += 1;
    // Compact now and then so the array stays O(capacity).
    if (this.start >= this.capacity) {
      this.items.splice(0, this.start);
      this.start = 0;
    }
  }

  get oldestId(): number | null {
    return this.items[this.start]?.id ?? null;
  }

  /** Buffered events with id > `afterId`, oldest first. */
  after(afterId: number): StoredEvent[] {
    const oldest = this.oldestId;
    if (oldest === null) return [];
    const from = Math.max(this.start, this.start + (afterId + 1 - oldest));
    return this.items.slice(from);
  }
}

interface QueueEntry {
  ev: StoredEvent;
  dead: boolean;
}

/**
 * One open stream. Writes go straight to the socket while it keeps up; once `write()` returns false
 * the client is paused: events queue (bounded, progress coalesced per operation) until 'drain'. The
 * backend never waits for a client.
 */
export class EventClient {
  private queue: QueueEntry[] = [];
  private head = 0;
  private live = 0;
  private readonly pendingProgress = new Map<string, QueueEntry>();
  private waitingDrain = false;
  private stallTimer: NodeJS.Timeout | null = null;
  closed = false;
  lastWrittenId = 0;
  /** Progress events replaced by a newer one before they were written. */
  coalesced = 0;

  constructor(
    readonly res: ServerResponse,
    readonly filter: EventFilter,
    private readonly limits: { bufferSize: number; stallTimeoutMs: number },
    private readonly onDrop: (client: EventClient, reason: DropReason) => void,
  ) {
    res.on('drain', () => this.flush());
  }

  get queued(): number {
    return this.live;
  }

  get paused(): boolean {
    return this.waitingDrain;
  }

  /** Offers a stored event (filtered here). */
  offer(ev: StoredEvent): void {
    if (this.closed || !matches(ev, this.filter)) return;
    if (!this.waitingDrain && this.live === 0) {
      this.write(ev);
      return;
    }
    this.enqueue(ev);
  }

  /** Writes a frame that is not a stored event (gap notice), queued in order like the others. */
  offerFrame(id: number, type: EventType, frame: string): void {
    const ev: StoredEvent = {
      id,
      type,
      operationId: null,
      operationType: null,
      sweepId: null,
      workerType: null,
      frame,
    };
    if (!this.waitingDrain && this.live === 0) this.write(ev);
    else this.enqueue(ev);
  }

  heartbeat(at: string): void {
    // A paused client gets nothing more: its stall timer decides.
    if (this.closed || this.waitingDrain || this.live > 0) return;
    this.writeRaw(`: heartbeat ${at}\n\n`);
  }

  private enqueue(ev: StoredEvent): void {
    if (ev.type === 'operation.progress' && ev.operationId !== null) {
      const prev = this.pendingProgress.get(ev.operationId);
      if (prev && !prev.dead) {
        prev.dead = true;
        this.live -= 1;
        this.coalesced += 1;
      }
    }
    const entry: QueueEntry = { ev, dead: false };
    this.queue.push(entry);
    this.live += 1;
    if (ev.type === 'operation.progress' && ev.operationId !== null)
      this.pendingProgress.set(ev.operationId, entry);
    if (this.live > this.limits.bufferSize) {
      this.onDrop(this, 'slow_client');
      return;
    }
    if (this.queue.length - this.head > 2 * this.limits.bufferSize + 16) this.compact();
  }

  private compact(): void {
    this.queue = this.queue.slice(this.head).filter((e) => !e.dead);
    this.head = 0;
  }

  private write(ev: StoredEvent): void {
    this.lastWrittenId = ev.id;
    this.writeRaw(ev.frame);
  }

  private writeRaw(text: string): void {
    if (this.res.destroyed || this.res.writableEnded) return;
    const ok = this.res.write(text);
    if (!ok && !this.waitingDrain) {
      this.waitingDrain = true;
      this.stallTimer = setTimeout(() => this.onDrop(this, 'stalled'), this.limits.stallTimeoutMs);
      this.stallTimer.unref();
    }
  }

  private flush(): void {
    if (this.closed) return;
    this.waitingDrain = false;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    while (this.head < this.queue.length && !this.waitingDrain) {
      const entry = this.queue[this.head++] as QueueEntry;
      if (entry.dead) continue;
      this.live -= 1;
      const op = entry.ev.operationId;
      if (op !== null && this.pendingProgress.get(op) === entry) this.pendingProgress.delete(op);
      this.write(entry.ev);
    }
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
  }

  /** Writes the final frame (past any backpressure: it is one small frame), ends the stream. */
  close(finalFrame: string | null): void {
    if (this.closed) return;
    this.closed = true;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    this.queue = [];
    this.head = 0;
    this.live = 0;
    this.pendingProgress.clear();
    if (this.res.destroyed || this.res.writableEnded) return;
    if (finalFrame) this.res.write(finalFrame);
    this.res.end();
    // A client that does not read never receives the end: free the socket after a short grace.
    const socket = this.res.socket;
    if (socket && !socket.destroyed) {
      const t = setTimeout(() => socket.destroy(), DROP_GRACE_MS);
      t.unref();
      socket.once('close', () => clearTimeout(t));
    }
  }
}

/**
 * The live event stream: operation and worker lifecycle events with increasing ids, a bounded replay
 * buffer for `Last-Event-ID`, per-client filters, bounded per-client queues with progress coalescing,
 * and heartbeat comments.
 */
@Injectable()
export class EventsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Events');
  private lastId = 0;
  private readonly buffer: ReplayBuffer;
  private readonly clients = new Set<EventClient>();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private readonly counters = { dropped: 0, coalesced: 0 };

  /** Last status seen per worker, for previous_status. */
  private readonly workerStatus = new Map<string, WorkerStatus>();

  private readonly onOperation = (e: OperationEvent): void => {
    try {
      const payload = toOperationEventPayload(e.operation);
      this.publish(`operation.${e.kind}`, payload, {
        operationId: payload.operation_id,
        operationType: payload.operation_type,
        sweepId: payload.sweep_id,
        workerType: null,
      });
    } catch (err) {
      this.logger.error(`Could not publish an operation event: ${errorText(err)}`);
    }
  };

  private readonly onWorker = (e: WorkerEvent): void => {
    try {
      const id = e.worker.worker_id;
      const previous = e.kind === 'registered' ? null : (this.workerStatus.get(id) ?? null);
      if (e.kind === 'removed') this.workerStatus.delete(id);
      else this.workerStatus.set(id, e.worker.status);
      this.publish(
        `worker.${e.kind}`,
        { worker: e.worker, previous_status: previous },
        { operationId: null, operationType: null, sweepId: null, workerType: e.worker.worker_type },
      );
    } catch (err) {
      this.logger.error(`Could not publish a worker event: ${errorText(err)}`);
    }
  };

  constructor(
    private readonly lifecycle: LifecycleEvents,
    private readonly shutdown: ShutdownState,
    @Inject(BACKEND_SETTINGS) private readonly settings: BackendSettings,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.buffer = new ReplayBuffer(settings.events.replay_buffer_size);
  }

  onModuleInit(): void {
    this.lifecycle.on('operation', this.onOperation);
    this.lifecycle.on('worker', this.onWorker);
  }

  onModuleDestroy(): void {
    this.lifecycle.off('operation', this.onOperation);
    this.lifecycle.off('worker', this.onWorker);
    for (const c of [...this.clients]) this.drop(c, 'shutdown');
    this.stopHeartbeat();
  }

  /** Id of the newest event (0 before the first). */
  get latestId(): number {
    return this.lastId;
  }

  /** The open streams (diagnostics and tests). */
  openClients(): readonly EventClient[] {
    return [...this.clients];
  }

  get stats(): { clients: number; dropped: number; latest_id: number } {
    return { clients: this.clients.size, dropped: this.counters.dropped, latest_id: this.lastId };
  }

  private now(): string {
    return new Date(this.clock.now()).toISOString();
  }

  private publish(
    type: EventType,
    payload: unknown,
    keys: Omit<StoredEvent, 'id' | 'type' | 'frame'>,
  ): void {
    const id = ++this.lastId;
    const ev: StoredEvent = {
      id,
      type,
      ...keys,
      frame: frameOf({ id, type, time: this.now(), payload } as { id: number; type: string }),
    };
    this.buffer.push(ev);
    for (const c of this.clients) c.offer(ev);
  }

  /** Parses `Last-Event-ID` (header wins over the query parameter); 400 when it is not an id. */
  resolveLastEventId(header: string | undefined, query: number | undefined): number | null {
    if (header !== undefined && header.trim() !== '') {
      const t = header.trim();
      if (!/^\d{1,15}$/.test(t)) {
        throw new BadRequestException(
          'Last-Event-ID must be a non-negative integer: the id of the last event received',
        );
      }
      return Number(t);
    }
    return query ?? null;
  }

  /** Opens a stream on `res` (headers, replay, live events) until the client or the backend closes it. */
  open(
    req: IncomingMessage,
    res: ServerResponse,
    query: EventsQueryDto,
    lastEventIdHeader: string | undefined,
  ): EventClient {
    const lastEventId = this.resolveLastEventId(lastEventIdHeader, query.last_event_id);
    if (this.shutdown.isShuttingDown) {
      throw new RetryLaterException('Backend is shutting down; reconnect shortly', 5);
    }
    if (this.clients.size >= this.settings.events.max_clients) {
      throw new RetryLaterException(
        `Too many event streams open (${this.settings.events.max_clients}, KTRDR_EVENTS_MAX_CLIENTS); retry later`,
        5,
      );
    }
    const filter: EventFilter = {};
    if (query.operation_id !== undefined) filter.operation_id = query.operation_id;
    if (query.sweep_id !== undefined) filter.sweep_id = query.sweep_id;
    if (query.worker_type !== undefined) filter.worker_type = query.worker_type;

    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    res.socket?.setKeepAlive(true);
    // Reconnect delay for EventSource clients, and a first line so the headers go out now.
    res.write(`retry: 2000\n: connected, latest event id ${this.lastId}\n\n`);

    const client = new EventClient(
      res,
      filter,
      {
        bufferSize: this.settings.events.client_buffer_size,
        stallTimeoutMs: this.settings.events.client_stall_timeout * 1000,
      },
      (c, reason) => this.drop(c, reason),
    );
    if (lastEventId !== null) this.replay(client, lastEventId);
    if (client.closed) return client;
    this.clients.add(client);
    this.startHeartbeat();
    const cleanup = (): void => {
      if (!this.clients.has(client)) return;
      this.counters.coalesced += client.coalesced;
      client.close(null);
      this.clients.delete(client);
      if (this.clients.size === 0) this.stopHeartbeat();
    };
    req.on('close', cleanup);
    res.on('close', cleanup);
    res.on('error', cleanup);
    return client;
  }

  /** Events after `lastEventId` from the buffer (superseded progress skipped), after a gap notice. */
  private replay(client: EventClient, lastEventId: number): void {
    const oldest = this.buffer.oldestId;
    let gap: StreamGapEventDto['payload'] | null = null;
    let events: StoredEvent[];
    if (lastEventId > this.lastId) {
      gap = {
        last_event_id: lastEventId,
        oldest_available_id: oldest,
        reason: 'unknown_id',
        message: `Event ${lastEventId} is newer than any event of this backend (latest ${this.lastId}): it restarted; re-read current state`,
      };
      events = this.buffer.after(0);
    } else {
      if (oldest !== null && lastEventId < oldest - 1) {
        gap = {
          last_event_id: lastEventId,
          oldest_available_id: oldest,
          reason: 'evicted',
          message: `Events ${lastEventId + 1}–${oldest - 1} are no longer buffered (KTRDR_EVENTS_REPLAY_BUFFER_SIZE); re-read current state`,
        };
      }
      events = this.buffer.after(lastEventId);
    }
    if (gap) {
      const firstId = events[0]?.id ?? this.lastId + 1;
      const id = firstId - 1;
      const ev: StreamGapEventDto = { id, type: 'stream.gap', time: this.now(), payload: gap };
      client.offerFrame(id, 'stream.gap', frameOf(ev));
    }
    const latestProgress = new Map<string, number>();
    for (const ev of events) {
      if (ev.type === 'operation.progress' && ev.operationId !== null && matches(ev, client.filter))
        latestProgress.set(ev.operationId, ev.id);
    }
    for (const ev of events) {
      if (
        ev.type === 'operation.progress' &&
        ev.operationId !== null &&
        latestProgress.get(ev.operationId) !== ev.id
      )
        continue;
      client.offer(ev);
      if (client.closed) return;
    }
  }

  private drop(client: EventClient, reason: DropReason): void {
    if (client.closed) return;
    this.clients.delete(client);
    if (this.clients.size === 0) this.stopHeartbeat();
    if (reason !== 'shutdown') this.counters.dropped += 1;
    const messages: Record<DropReason, string> = {
      slow_client: `More than ${this.settings.events.client_buffer_size} events queued for this client (KTRDR_EVENTS_CLIENT_BUFFER_SIZE); reconnect with Last-Event-ID ${client.lastWrittenId}`,
      stalled: `The connection stayed full for ${this.settings.events.client_stall_timeout} s (KTRDR_EVENTS_CLIENT_STALL_TIMEOUT); reconnect with Last-Event-ID ${client.lastWrittenId}`,
      shutdown: 'The backend is shutting down; reconnect with Last-Event-ID shortly',
    };
    const ev: StreamDroppedEventDto = {
      id: client.lastWrittenId,
      type: 'stream.dropped',
      time: this.now(),
      payload: { reason, last_event_id: client.lastWrittenId, message: messages[reason] },
    };
    if (reason !== 'shutdown') {
      this.logger.warn(`Dropped an event stream client (${reason}, ${client.queued} queued)`);
    }
    client.close(frameOf(ev));
  }

  private startHeartbeat(): void {
    if (this.heartbeatTimer) return;
    this.heartbeatTimer = setInterval(() => {
      const at = this.now();
      for (const c of this.clients) c.heartbeat(at);
    }, this.settings.events.heartbeat_interval * 1000);
    this.heartbeatTimer.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }
}
