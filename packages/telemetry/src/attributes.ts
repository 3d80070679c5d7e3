/** Span and resource attribute names of the KTRDR spans (one place, so tests and docs agree). */
export const ATTR = {
  OPERATION_ID: 'ktrdr.operation.id',
  OPERATION_TYPE: 'ktrdr.operation.type',
  ATTEMPT: 'ktrdr.operation.attempt',
  STATUS: 'ktrdr.operation.status',
  PRIORITY: 'ktrdr.operation.priority',
  QUEUE_POSITION: 'ktrdr.queue.position',
  WORKER_ID: 'ktrdr.worker.id',
  WORKER_TYPE: 'ktrdr.worker.type',
  /** Worker selection: how many workers could take it, their ids, the chosen one and why. */
  SELECTION_CANDIDATES: 'ktrdr.selection.candidates',
  SELECTION_CANDIDATE_IDS: 'ktrdr.selection.candidate_ids',
  SELECTION_CHOSEN: 'ktrdr.selection.chosen_worker',
  SELECTION_REASON: 'ktrdr.selection.reason',
  DISPATCH_TRY: 'ktrdr.dispatch.try',
  DISPATCH_OUTCOME: 'ktrdr.dispatch.outcome',
  REDISPATCH_REASON: 'ktrdr.redispatch.reason',
  RESUME_UNIT: 'ktrdr.resume.unit',
  ERROR_MESSAGE: 'ktrdr.error.message',
  PHASE: 'ktrdr.job.phase',
  RESULT_BYTES: 'ktrdr.result.bytes',
} as const;

/** Span names. */
export const SPAN = {
  SUBMIT: 'ktrdr.operation.submit',
  ATTEMPT: 'ktrdr.operation.attempt',
  QUEUED: 'ktrdr.operation.queued',
  DISPATCH: 'ktrdr.operation.dispatch',
  SELECT: 'ktrdr.worker.select',
  PROGRESS: 'ktrdr.operation.progress',
  COMPLETE: 'ktrdr.operation.complete',
  WORKER_ACCEPT: 'ktrdr.worker.accept',
  JOB: 'ktrdr.job',
  /** `ktrdr.job.load_data`, `ktrdr.job.run`, `ktrdr.job.serialise_result`, … */
  PHASE_PREFIX: 'ktrdr.job.',
  REPORT_PROGRESS: 'ktrdr.report.progress',
  REPORT_COMPLETE: 'ktrdr.report.complete',
} as const;
