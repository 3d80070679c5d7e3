/**
 * Wire payload types, straight from @ktrdr/contracts (type-only: nothing of NestJS or
 * class-validator reaches the bundle) and from the engines for the shape of `result`.
 */
export type {
  BacktestStartRequestDto,
  CancelOperationResponseDto,
  CancelSweepResponseDto,
  CheckpointInfoDto,
  ErrorResponseDto,
  OperationDto,
  OperationListResponseDto,
  OperationProgressDto,
  OperationResponseDto,
  OperationResultsResponseDto,
  StartOperationResponseDto,
  SweepChildDto,
  SweepDto,
  SweepResponseDto,
  SweepStartResponseDto,
  TrainingStartRequestDto,
  WorkerCapabilitiesDto,
  WorkerDto,
  WorkerListResponseDto,
} from '@ktrdr/contracts';
export type { BacktestResult, EquityPoint, Trade } from '@ktrdr/backtest-engine';
export type { EpochRecord, TrainingResult } from '@ktrdr/training-engine';
