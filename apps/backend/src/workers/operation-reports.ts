import type {
  CompleteOperationRequestDto,
  HeartbeatRequestDto,
  ReportAckDto,
} from '@ktrdr/contracts';

/**
 * What the worker protocol needs from the operations lifecycle, and all it may do there: the
 * operations module implements it (OperationsService) and stays the only writer of operation
 * state; the workers module never imports the operations module's classes.
 */
export interface OperationReports {
  /** A completion the worker re-sends on registration (as POST /operations/{id}/complete). */
  complete(operationId: string, report: CompleteOperationRequestDto): Promise<ReportAckDto>;
  /** Progress and checkpoint carried by a heartbeat; false: the worker must stop that operation. */
  heartbeatProgress(workerId: string, dto: HeartbeatRequestDto): Promise<boolean>;
  /** Whether the operation is dispatched to or running on the worker. */
  isAssignedTo(operationId: string, workerId: string): Promise<boolean>;
}

/** Nest injection token of the OperationReports implementation. */
export const OPERATION_REPORTS = Symbol('OPERATION_REPORTS');
