import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, apiErrorText, apiPath } from '../api/client';
import { invalidateOperations } from '../api/queries';
import type {
  CancelOperationResponseDto,
  OperationDto,
  StartOperationResponseDto,
} from '../api/types';
import { canCancel, canResume } from '../lib/ops';
import { useNotify } from './Notices';

/** Cancel and resume buttons; the API's answer (or its error message) is shown as a notice. */
export function OperationActions({
  op,
  compact = false,
}: {
  op: Pick<OperationDto, 'operation_id' | 'status' | 'checkpoint'>;
  compact?: boolean;
}) {
  const qc = useQueryClient();
  const notify = useNotify();
  const [busy, setBusy] = useState(false);
  const id = op.operation_id;

  async function run(kind: 'cancel' | 'resume') {
    setBusy(true);
    try {
      if (kind === 'cancel') {
        const r = await api<CancelOperationResponseDto>('DELETE', apiPath('operation', { id }));
        notify('ok', `${id}: ${r.status}. ${r.message}`);
      } else {
        const r = await api<StartOperationResponseDto>('POST', apiPath('operationResume', { id }));
        notify(
          'ok',
          `${id}: resumed (${r.status}${r.worker_id ? ` on ${r.worker_id}` : ''})${r.message ? `. ${r.message}` : ''}`,
        );
      }
    } catch (err) {
      notify('error', `${kind === 'cancel' ? 'Cancel' : 'Resume'} ${id} — ${apiErrorText(err)}`);
    } finally {
      setBusy(false);
      invalidateOperations(qc, id);
    }
  }

  const cancel = canCancel(op);
  const resume = canResume(op);
  if (!cancel && !resume) return null;
  return (
    <span className="actions">
      {cancel && (
        <button
          type="button"
          className="danger"
          disabled={busy}
          onClick={() => void run('cancel')}
          aria-label={compact ? `Cancel ${id}` : undefined}
        >
          Cancel
        </button>
      )}
      {resume && (
        <button
          type="button"
          disabled={busy}
          onClick={() => void run('resume')}
          aria-label={compact ? `Resume ${id}` : undefined}
        >
          Resume
        </button>
      )}
    </span>
  );
}
