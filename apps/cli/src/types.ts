import { TERMINAL_OPERATION_STATUSES } from '@ktrdr/contracts/constants';
import type { OperationDto } from '@ktrdr/contracts';

/** An operation as the CLI shows it (the DTO of `GET /operations/{id}`). */
export type OperationView = OperationDto;

export const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_OPERATION_STATUSES);
