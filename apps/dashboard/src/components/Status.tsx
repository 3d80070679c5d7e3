/** Status shown as a symbol and a word (colour is never the only signal). */
const SYMBOLS: Record<string, string> = {
  pending: '◷',
  dispatched: '➜',
  running: '▶',
  completed: '✓',
  failed: '✗',
  cancelled: '⊘',
  requeued: '↺',
  orphaned: '⚠',
  available: '●',
  busy: '▶',
  temporarily_unavailable: '⚠',
};

export function statusLabel(status: string): string {
  return status.replace(/_/g, ' ');
}

export function StatusBadge({ status }: { status: string }) {
  return (
    <span className={`badge badge-${status}`} data-status={status}>
      <span aria-hidden="true">{SYMBOLS[status] ?? '•'} </span>
      {statusLabel(status)}
    </span>
  );
}

export function ProgressBar({ percentage, label }: { percentage: number; label?: string }) {
  const p = Math.max(0, Math.min(100, Number.isFinite(percentage) ? percentage : 0));
  const text = `${p.toFixed(1)}%`;
  return (
    <div className="progress">
      <div
        className="progress-track"
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Number(p.toFixed(1))}
        aria-valuetext={label ? `${text}, ${label}` : text}
        aria-label={label ? `progress: ${label}` : 'progress'}
      >
        <div className="progress-fill" style={{ width: `${p}%` }} />
      </div>
      <span className="progress-text">{text}</span>
    </div>
  );
}
