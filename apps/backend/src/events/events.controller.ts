import type { IncomingMessage, ServerResponse } from 'node:http';
import { Controller, Get, Headers, Query, Req, Res } from '@nestjs/common';
import {
  ApiExtraModels,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import {
  BACKEND_ROUTES,
  EVENT_TYPES,
  EventsQueryDto,
  OperationEventDto,
  StreamDroppedEventDto,
  StreamGapEventDto,
  WorkerEventDto,
} from '@ktrdr/contracts';
import { ApiErrors } from '../common/api-errors.decorator';
import { EventsService } from './events.service';

const DESCRIPTION = [
  'Server-Sent Events (`text/event-stream`). Each event is one frame: `id: <n>`, `event: <type>`,',
  '`data: <JSON { id, type, time, payload }>`. Ids increase by one per event of this backend process.',
  '',
  `Types: ${EVENT_TYPES.map((t) => `\`${t}\``).join(', ')}.`,
  'Operation events carry the operation without params and result (GET /operations/{id}/results for',
  'those); worker events carry the worker record and its previous status.',
  '',
  '**Resume**: send `Last-Event-ID` (EventSource does it on reconnect) or `?last_event_id=`: the',
  'buffered events after it are replayed first (only the latest progress per operation). When some of',
  'them are no longer buffered, or the id is unknown (the backend restarted), a `stream.gap` event comes',
  'first: re-read current state.',
  '',
  '**Filters** (AND): `operation_id`, `sweep_id` (operation events only), `worker_type` (its workers and',
  'the operations that run on it).',
  '',
  '**Slow clients**: a client whose connection is full gets its events queued (bounded by',
  '`KTRDR_EVENTS_CLIENT_BUFFER_SIZE`, progress coalesced per operation); beyond the bound, or full for',
  '`KTRDR_EVENTS_CLIENT_STALL_TIMEOUT` s, it gets a final `stream.dropped` event and the stream ends.',
  'Heartbeat comments (`: heartbeat <time>`) every `KTRDR_EVENTS_HEARTBEAT_INTERVAL` s.',
].join('\n');

@ApiTags('events')
@ApiExtraModels(OperationEventDto, WorkerEventDto, StreamGapEventDto, StreamDroppedEventDto)
@Controller()
export class EventsController {
  constructor(private readonly events: EventsService) {}

  @Get(BACKEND_ROUTES.events)
  @ApiOperation({ summary: 'Live event stream (Server-Sent Events)', description: DESCRIPTION })
  @ApiProduces('text/event-stream')
  @ApiHeader({
    name: 'Last-Event-ID',
    required: false,
    description: 'Resume after this event id (a non-negative integer)',
  })
  @ApiOkResponse({
    description: 'An open stream of events; each `data:` line is one of these objects',
    content: {
      'text/event-stream': {
        schema: {
          oneOf: [
            { $ref: getSchemaPath(OperationEventDto) },
            { $ref: getSchemaPath(WorkerEventDto) },
            { $ref: getSchemaPath(StreamGapEventDto) },
            { $ref: getSchemaPath(StreamDroppedEventDto) },
          ],
        },
      },
    },
  })
  @ApiErrors(400, 503)
  stream(
    @Query() query: EventsQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Req() req: IncomingMessage,
    @Res() res: ServerResponse,
  ): void {
    this.events.open(req, res, query, lastEventId);
  }
}
