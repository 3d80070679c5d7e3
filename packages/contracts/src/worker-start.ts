import { OperationType } from './enums';
import { WORKER_ROUTES } from './routes';
import {
  type BacktestStartRequestDto,
  type DispatchedStartRequest,
  type TrainingStartRequestDto,
  WorkerBacktestStartRequestDto,
  WorkerTrainingStartRequestDto,
} from './start.dto';

/**
 * `A` whose fields that only `B` has are absent: the start requests share their required fields
 * (symbol, timeframe, dates), so without this a backtest request would also be a training request
 * to tsc (every other training field is optional).
 */
type Without<A, B> = A & { [K in Exclude<keyof B, keyof A>]?: never };

/**
 * Per operation type: its parameters as the backend stores them and the worker receives them in
 * `params` (the public start request, without the queue field `priority`).
 */
export interface OperationParamsByType {
  [OperationType.BACKTESTING]: Without<BacktestStartRequestDto, TrainingStartRequestDto>;
  [OperationType.TRAINING]: Without<TrainingStartRequestDto, BacktestStartRequestDto>;
}

/** The parameters of an operation of type `T` (of any type when `T` is left out). */
export type OperationParams<T extends OperationType = OperationType> = OperationParamsByType[T];

/** The body of the worker start request (backend → worker) for an operation of type `T`. */
export type WorkerStartRequest<T extends OperationType = OperationType> = DispatchedStartRequest<
  OperationParams<T>
>;

/** Where a worker takes an operation of each type, and the DTO it validates the body with. */
export interface WorkerStartEndpoint<T extends OperationType> {
  /** Absolute route of the worker's start endpoint. */
  readonly route: string;
  /** The contracts' Worker*StartRequestDto. */
  readonly request: new () => WorkerStartRequest<T>;
}

/**
 * Operation type → worker start route and request DTO: the backend sends to this route, the
 * worker validates with this DTO, so the route and the body of a start request always agree.
 */
export const WORKER_START: { readonly [T in OperationType]: WorkerStartEndpoint<T> } = {
  [OperationType.BACKTESTING]: {
    route: WORKER_ROUTES.backtestStart,
    request: WorkerBacktestStartRequestDto,
  },
  [OperationType.TRAINING]: {
    route: WORKER_ROUTES.trainingStart,
    request: WorkerTrainingStartRequestDto,
  },
};
