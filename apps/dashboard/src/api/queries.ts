import { useQuery, type QueryClient } from '@tanstack/react-query';
import { OperationStatus } from '@ktrdr/contracts/constants';
import { isFinished } from '../lib/ops';
import { useLive } from '../live/LiveContext';
import { ApiError, apiPath, get } from './client';
import type {
  OperationDto,
  OperationListResponseDto,
  OperationResponseDto,
  OperationResultsResponseDto,
  TradeListResponseDto,
  WorkerListResponseDto,
} from './types';

export const keys = {
  workers: ['workers'] as const,
  operations: (filter: OperationFilter) => ['operations', filter] as const,
  allOperations: ['operations'] as const,
  operation: (id: string) => ['operation', id] as const,
  results: (id: string) => ['results', id] as const,
  trades: (id: string, limit: number, offset: number) => ['trades', id, limit, offset] as const,
  sweep: (id: string, sort: string, order: string) => ['sweep', id, sort, order] as const,
};

export interface OperationFilter {
  status?: string;
  operation_type?: string;
  limit: number;
  offset: number;
}

/** Retry transient failures, never 4xx (a 401 waits for the key, a 404 is an answer). */
function retry(count: number, err: Error): boolean {
  if (err instanceof ApiError && err.status >= 400 && err.status < 500) return false;
  return count < 2;
}

export function useWorkers() {
  const { pollMs } = useLive();
  return useQuery({
    queryKey: keys.workers,
    queryFn: ({ signal }) => get<WorkerListResponseDto>(apiPath('workers'), signal),
    refetchInterval: pollMs,
    retry,
  });
}

export function useOperations(filter: OperationFilter, enabled = true) {
  const { pollMs } = useLive();
  return useQuery({
    enabled,
    queryKey: keys.operations(filter),
    queryFn: ({ signal }) =>
      get<OperationListResponseDto>(apiPath('operations', {}, { ...filter }), signal),
    refetchInterval: pollMs,
    placeholderData: (prev) => prev,
    retry,
  });
}

/**
 * The operations a worker holds: dispatched (sent, not accepted yet) and running, in that order
 * (the contracts' ASSIGNED_OPERATION_STATUSES). The running panel and the fleet share these queries.
 */
export function useAssignedOperations(): { data: OperationDto[]; error: Error | null } {
  const dispatched = useOperations({ status: OperationStatus.DISPATCHED, limit: 200, offset: 0 });
  const running = useOperations({ status: OperationStatus.RUNNING, limit: 200, offset: 0 });
  return {
    data: [...(dispatched.data?.data ?? []), ...(running.data?.data ?? [])],
    error: running.error ?? dispatched.error,
  };
}

export function useOperation(id: string) {
  const { detailPollMs } = useLive();
  return useQuery({
    queryKey: keys.operation(id),
    queryFn: ({ signal }) =>
      get<OperationResponseDto>(apiPath('operation', { id }), signal).then((r) => r.data),
    refetchInterval: (q) => {
      const op = q.state.data as OperationDto | undefined;
      return op && isFinished(op.status) ? false : detailPollMs;
    },
    retry,
  });
}

export function useResults(id: string, enabled: boolean) {
  return useQuery({
    queryKey: keys.results(id),
    queryFn: ({ signal }) =>
      get<OperationResultsResponseDto>(apiPath('operationResults', { id }), signal),
    enabled,
    staleTime: Infinity,
    retry,
  });
}

/** A page of `GET /operations/{id}/results/trades?limit&offset`. */
export function useTrades(id: string, limit: number, offset: number, enabled: boolean) {
  return useQuery<TradeListResponseDto, Error>({
    queryKey: keys.trades(id, limit, offset),
    enabled,
    staleTime: Infinity,
    placeholderData: (prev) => prev,
    retry,
    queryFn: ({ signal }) =>
      get<TradeListResponseDto>(
        apiPath('operationResultTrades', { id }, { limit, offset }),
        signal,
      ),
  });
}

/** After a cancel, resume or start: everything about operations may have changed. */
export function invalidateOperations(qc: QueryClient, id?: string): void {
  void qc.invalidateQueries({ queryKey: keys.allOperations });
  void qc.invalidateQueries({ queryKey: keys.workers });
  if (id) void qc.invalidateQueries({ queryKey: keys.operation(id) });
}
