/**
 * Wire payload types, straight from @ktrdr/contracts (type-only: nothing of NestJS or
 * class-validator reaches the bundle).
 */
export type {
  BacktestResultDto,
  BacktestStartRequestDto,
  CancelOperationResponseDto,
  CancelSweepResponseDto,
  CheckpointInfoDto,
  EpochRecordDto,
  EquityPointDto,
  ErrorResponseDto,
  OperationDto,
  OperationListResponseDto,
  OperationMetricsDto,
  OperationProgressDto,
  OperationResponseDto,
  OperationResultsResponseDto,
  StartOperationResponseDto,
  SweepChildDto,
  SweepDto,
  SweepResponseDto,
  SweepStartResponseDto,
  TradeDto,
  TradeListResponseDto,
  TrainingResultDto,
  TrainingStartRequestDto,
  WorkerCapabilitiesDto,
  WorkerDto,
  WorkerListResponseDto,
} from '@ktrdr/contracts';
