import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';

export interface Notice {
  id: number;
  kind: 'ok' | 'error';
  text: string;
}

interface NoticeApi {
  notify(kind: Notice['kind'], text: string): void;
}

const Ctx = createContext<NoticeApi>({ notify: () => undefined });

export function useNotify(): NoticeApi['notify'] {
  return useContext(Ctx).notify;
}

/** The API's answers to cancel, resume and start, read out by screen readers (aria-live). */
export function NoticeProvider({ children }: { children: ReactNode }) {
  const [notices, setNotices] = useState<Notice[]>([]);
  const notify = useCallback((kind: Notice['kind'], text: string) => {
    setNotices((n) => [...n.slice(-4), { id: Date.now() + Math.random(), kind, text }]);
  }, []);
  const api = useMemo(() => ({ notify }), [notify]);
  return (
    <Ctx.Provider value={api}>
      {children}
      <div className="notices" role="status" aria-live="polite" data-testid="notices">
        {notices.map((n) => (
          <div key={n.id} className={`notice notice-${n.kind}`}>
            <span aria-hidden="true">{n.kind === 'ok' ? '✓ ' : '✗ '}</span>
            <span className="notice-text">{n.text}</span>
            <button
              type="button"
              className="link-button"
              aria-label="Dismiss message"
              onClick={() => setNotices((all) => all.filter((x) => x.id !== n.id))}
            >
              ×
            </button>
          </div>
        ))}
      </div>
    </Ctx.Provider>
  );
}
