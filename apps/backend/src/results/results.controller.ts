import {
  Body,
  Controller,
  Get,
  Header,
  Headers,
  HttpCode,
  Param,
  Post,
  Put,
  Query,
  Req,
  StreamableFile,
} from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import {
  ARTIFACT_CHUNK_MEDIA_TYPE,
  ARTIFACT_COLUMNS,
  ArtifactChunkQueryDto,
  LEASE_TOKEN_HEADER,
  MAX_ARTIFACT_CHUNK_BYTES,
  ARTIFACT_KINDS,
  ArtifactChunkAckDto,
  ArtifactChunkRequestDto,
  BACKEND_ROUTES,
  ListTradesQueryDto,
  ModelListResponseDto,
  OperationResultsResponseDto,
  TRADES_PAGE_MAX,
  TradeListResponseDto,
} from '@ktrdr/contracts';
import { WorkerProtocolRoute } from '../auth/access.decorators';
import { ApiErrors } from '../common/api-errors.decorator';
import { ModelsService } from './models.service';
import { ResultsService } from './results.service';

const ID_PARAM = { name: 'id', description: 'operation_id' };

function csvFile(stream: NodeJS.ReadableStream, filename: string): StreamableFile {
  return new StreamableFile(stream as never, {
    type: 'text/csv; charset=utf-8',
    disposition: `attachment; filename="${filename}"`,
  });
}

@ApiTags('results')
@Controller()
export class ResultsController {
  constructor(
    private readonly results: ResultsService,
    private readonly modelRegistry: ModelsService,
  ) {}

  @Get(BACKEND_ROUTES.operationResults)
  @ApiOperation({
    summary: 'The full result of a completed operation (400 until it has completed)',
    description:
      'data.result is a BacktestResult (metrics, buy-and-hold benchmark, calendar, downsampled equity curve, ' +
      'how many trades and equity points are stored) or a TrainingResult (per-epoch history, best epoch, ' +
      'validation metrics, features and scaling). Formulas: docs/metrics.md. The trade list and the full ' +
      'equity curve are at data.links.',
  })
  @ApiParam(ID_PARAM)
  @ApiOkResponse({ type: OperationResultsResponseDto })
  @ApiErrors(400, 404)
  get(@Param('id') id: string): Promise<OperationResultsResponseDto> {
    return this.results.results(id);
  }

  @Get(BACKEND_ROUTES.operationResultTrades)
  @ApiOperation({
    summary: 'Trades of a completed backtest, paginated (every stored trade, in order)',
    description: `limit 1–${TRADES_PAGE_MAX} (default 1000), offset; total_count = trades stored.`,
  })
  @ApiParam(ID_PARAM)
  @ApiOkResponse({ type: TradeListResponseDto })
  @ApiErrors(400, 404)
  trades(
    @Param('id') id: string,
    @Query() query: ListTradesQueryDto,
  ): Promise<TradeListResponseDto> {
    return this.results.trades(id, query);
  }

  @Get(BACKEND_ROUTES.operationResultTradesCsv)
  @Header('cache-control', 'no-store')
  @ApiOperation({ summary: 'Every stored trade of a completed backtest as CSV' })
  @ApiParam(ID_PARAM)
  @ApiProduces('text/csv')
  @ApiOkResponse({
    description: 'One header line, then one trade per line (times ISO-8601 UTC)',
    schema: {
      type: 'string',
      example: `${ARTIFACT_COLUMNS.trades.join(',')}\n2024-03-04T15:30:00.000Z,2024-03-06T18:30:00.000Z,172.41,175.02,579.4,1310.5,0.0131,16\n`,
    },
  })
  @ApiErrors(400, 404)
  async tradesCsv(@Param('id') id: string): Promise<StreamableFile> {
    const { stream, filename } = await this.results.csv(id, 'trades');
    return csvFile(stream, filename);
  }

  @Get(BACKEND_ROUTES.operationResultEquityCsv)
  @Header('cache-control', 'no-store')
  @ApiOperation({
    summary: 'The equity curve of a completed backtest at full resolution (one row per bar) as CSV',
  })
  @ApiParam(ID_PARAM)
  @ApiProduces('text/csv')
  @ApiOkResponse({
    description: 'time,equity (close-marked equity of every bar; see equity_summary for a cap)',
    schema: {
      type: 'string',
      example: 'time,equity\n2024-01-01T00:00:00.000Z,100000\n2024-01-01T01:00:00.000Z,100125.5\n',
    },
  })
  @ApiErrors(400, 404)
  async equityCsv(@Param('id') id: string): Promise<StreamableFile> {
    const { stream, filename } = await this.results.csv(id, 'equity');
    return csvFile(stream, filename);
  }

  @Put(BACKEND_ROUTES.operationArtifactChunk)
  @HttpCode(200)
  @WorkerProtocolRoute()
  @ApiOperation({
    summary:
      'A chunk of a result artifact from the worker, binary (trades or the full equity curve)',
    description:
      `The body is the chunk's rows as little-endian float64 values, column by column in ` +
      `ARTIFACT_COLUMNS[kind] order (trades: ${ARTIFACT_COLUMNS.trades.join(', ')}; equity: ` +
      `${ARTIFACT_COLUMNS.equity.join(', ')}; times in epoch ms), at most ${MAX_ARTIFACT_CHUNK_BYTES} bytes. ` +
      'Sent before /complete; fenced by the lease in the header (409 when stale or the operation ' +
      'already finished). A chunk with the same index replaces the earlier one; chunks of an older ' +
      'lease are dropped.',
  })
  @ApiParam(ID_PARAM)
  @ApiParam({ name: 'kind', enum: ARTIFACT_KINDS })
  @ApiParam({ name: 'index', description: '0-based index of this chunk', example: 0 })
  @ApiHeader({ name: LEASE_TOKEN_HEADER, required: true, description: 'Lease of the dispatch' })
  @ApiConsumes(ARTIFACT_CHUNK_MEDIA_TYPE)
  @ApiBody({ schema: { type: 'string', format: 'binary' } })
  @ApiOkResponse({ type: ArtifactChunkAckDto })
  @ApiErrors(400, 401, 404, 409, 413, 415)
  uploadBinary(
    @Param('id') id: string,
    @Param('kind') kind: string,
    @Param('index') index: string,
    @Headers(LEASE_TOKEN_HEADER) leaseToken: string | undefined,
    @Query() query: ArtifactChunkQueryDto,
    // The raw parser's Buffer, read from the request: the body pipe is for JSON objects.
    @Req() req: { body?: unknown },
  ): Promise<ArtifactChunkAckDto> {
    return this.results.putBinaryChunk(id, kind, index, leaseToken, query, req.body);
  }

  @Post(BACKEND_ROUTES.operationArtifacts)
  @HttpCode(200)
  @WorkerProtocolRoute()
  @ApiOperation({
    summary: 'A chunk of a result artifact from the worker, JSON (deprecated: workers send binary)',
    deprecated: true,
    description:
      'The JSON form of PUT …/chunks/{index}, kept for workers older than the binary upload. ' +
      'Sent before /complete; fenced by the lease (409 when stale or the operation already finished). ' +
      'A chunk with the same index replaces the earlier one; chunks of an older lease are dropped.',
  })
  @ApiParam(ID_PARAM)
  @ApiParam({ name: 'kind', enum: ARTIFACT_KINDS })
  @ApiOkResponse({ type: ArtifactChunkAckDto })
  @ApiErrors(400, 401, 404, 409)
  upload(
    @Param('id') id: string,
    @Param('kind') kind: string,
    @Body() body: ArtifactChunkRequestDto,
  ): Promise<ArtifactChunkAckDto> {
    return this.results.putChunk(id, kind, body);
  }

  @Get(BACKEND_ROUTES.models)
  @ApiOperation({
    summary: 'Trained models: their training operation and metrics',
    description:
      'From the completed trainings in the operations store and the model files in the models directory ' +
      '(KTRDR_DATA_MODELS_DIR), newest first. Use model_name as strategy.model_name of a model backtest.',
  })
  @ApiOkResponse({ type: ModelListResponseDto })
  models(): Promise<ModelListResponseDto> {
    return this.modelRegistry.list();
  }
}
