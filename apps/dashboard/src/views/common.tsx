import { apiErrorText } from '../api/client';

export function ErrorLine({ error, what }: { error: unknown; what: string }) {
  const text = apiErrorText(error);
  return (
    <p className="error-line" role="alert">
      <span aria-hidden="true">✗ </span>Could not load {what}: {text}
    </p>
  );
}

export function OpLink({ id }: { id: string }) {
  return (
    <a href={`#/operations/${encodeURIComponent(id)}`} className="mono">
      {id}
    </a>
  );
}
