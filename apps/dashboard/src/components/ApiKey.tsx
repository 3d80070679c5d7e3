import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { getApiKey, isAuthNeeded, onAuthNeeded, setApiKey } from '../api/auth';

/** Asks for the API key when the backend answered 401; the key stays in this tab's sessionStorage. */
export function ApiKeyPanel() {
  const [needed, setNeeded] = useState(isAuthNeeded());
  const [open, setOpen] = useState(false);
  const [value, setValue] = useState('');
  const input = useRef<HTMLInputElement>(null);
  const qc = useQueryClient();
  const hasKey = getApiKey() !== null;

  useEffect(() => onAuthNeeded(setNeeded), []);
  useEffect(() => {
    if (needed || open) input.current?.focus();
  }, [needed, open]);

  function submit(e: FormEvent) {
    e.preventDefault();
    setApiKey(value);
    setValue('');
    setOpen(false);
    void qc.invalidateQueries();
  }

  if (!needed && !open) {
    return (
      <div className="key-controls">
        <button type="button" className="link-button" onClick={() => setOpen(true)}>
          {hasKey ? 'API key set' : 'Set API key'}
        </button>
        {hasKey && (
          <button
            type="button"
            className="link-button"
            onClick={() => {
              setApiKey(null);
              void qc.invalidateQueries();
            }}
          >
            Forget key
          </button>
        )}
      </div>
    );
  }
  return (
    <form
      className="key-panel"
      onSubmit={submit}
      aria-labelledby="key-h"
      data-testid="api-key-form"
    >
      <h2 id="key-h">{needed ? 'This backend needs an API key' : 'API key'}</h2>
      <p className="help">
        {needed ? 'The backend answered 401 Unauthorized. ' : ''}
        The key is kept in this tab only (sessionStorage) and sent as{' '}
        <code>Authorization: Bearer …</code>.
      </p>
      <label htmlFor="api-key">API key</label>
      <input
        ref={input}
        id="api-key"
        type="password"
        autoComplete="off"
        value={value}
        onChange={(e) => setValue(e.target.value)}
        required
      />
      <button type="submit" className="primary">
        Use key
      </button>
      {!needed && (
        <button type="button" onClick={() => setOpen(false)}>
          Close
        </button>
      )}
    </form>
  );
}
