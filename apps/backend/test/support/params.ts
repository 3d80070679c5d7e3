import type { OperationParams } from '@ktrdr/contracts';

/**
 * Parameters for tests of storage and state changes, which do not care what an operation runs:
 * the repository stores any JSON object (the services store validated start requests only).
 */
export function storedParams(value: object): OperationParams {
  return value as OperationParams;
}
