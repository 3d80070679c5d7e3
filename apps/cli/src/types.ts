import type { OperationDto } from '@ktrdr/contracts';

/** An operation as the CLI shows it (the DTO of `GET /operations/{id}`). */
export type OperationView = OperationDto;

export const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
