import { useQuery, type QueryClient } from '@tanstack/react-query';
import { useLive } from '../live/LiveContext';
import { ApiError, apiPath, get } from './client';
import type {
  OperationDto,
  OperationListResponseDto,
  OperationResponseDto,
  OperationResultsResponseDto,
  Trade,
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

export function useOperation(id: string) {
  const { detailPollMs } = useLive();
  return useQuery({
    queryKey: keys.operation(id),
    queryFn: ({ signal }) =>
      get<OperationResponseDto>(apiPath('operation', { id }), signal).then((r) => r.data),
    refetchInterval: (q) => {
      const op = q.state.data as OperationDto | undefined;
      return op && ['completed', 'failed', 'cancelled'].includes(op.status) ? false : detailPollMs;
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

export interface TradesPage {
  trades: Trade[];
  total: number;
  /** `server`: the paginated trades endpoint; `result`: sliced from the trades inside /results. */
  source: 'server' | 'result';
}

function pickArray(body: Record<string, unknown>): Trade[] | null {
  for (const k of ['data', 'trades', 'items'])
    if (Array.isArray(body[k])) return body[k] as Trade[];
  return null;
}

function pickTotal(body: Record<string, unknown>, fallback: number): number {
  for (const k of ['total_count', 'total', 'count'])
    if (typeof body[k] === 'number') return body[k] as number;
  return fallback;
}

/**
 * A page of trades: from `GET /operations/{id}/results/trades?limit&offset` when the backend has it,
 * else a slice of the trades carried in `/results` (a 404 for an operation that exists means the
 * route is missing).
 */
export function useTrades(
  id: string,
  limit: number,
  offset: number,
  fallback: Trade[] | null,
  enabled: boolean,
) {
  return useQuery<TradesPage, Error>({
    queryKey: keys.trades(id, limit, offset),
    enabled,
    staleTime: Infinity,
    placeholderData: (prev) => prev,
    retry,
    queryFn: async ({ signal }): Promise<TradesPage> => {
      try {
        const body = await get<Record<string, unknown>>(
          apiPath('operationTrades', { id }, { limit, offset }),
          signal,
        );
        const trades = pickArray(body);
        if (trades) return { trades, total: pickTotal(body, trades.length), source: 'server' };
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      }
      const all = fallback ?? [];
      return { trades: all.slice(offset, offset + limit), total: all.length, source: 'result' };
    },
  });
}

/** After a cancel, resume or start: everything about operations may have changed. */
export function invalidateOperations(qc: QueryClient, id?: string): void {
  void qc.invalidateQueries({ queryKey: keys.allOperations });
  void qc.invalidateQueries({ queryKey: keys.workers });
  if (id) void qc.invalidateQueries({ queryKey: keys.operation(id) });
}
