import type { OperationDto } from '@ktrdr/contracts';

/**
 * An operation as the CLI shows it: the DTO plus the queue fields of the queue API (optional so the
 * CLI also reads a backend that does not send them).
 */
export type OperationView = OperationDto & {
  queue_position?: number | null;
  wait_reason?: string | null;
  sweep_id?: string | null;
  priority?: number;
};

export const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
