import { useEffect, useState } from 'react';

export type Route =
  | { page: 'overview' }
  | { page: 'operations' }
  | { page: 'operation'; id: string }
  | { page: 'sweep'; id: string }
  | { page: 'new'; kind: 'backtest' | 'training' }
  | { page: 'not-found'; path: string };

/** Hash routes (`#/operations/op_…`): the backend serves one index.html, no server-side routing. */
export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '').replace(/\/+$/, '') || '/';
  const parts = path
    .split('/')
    .filter(Boolean)
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  if (parts.length === 0) return { page: 'overview' };
  const [head, arg] = parts;
  if (head === 'operations' && parts.length === 1) return { page: 'operations' };
  if (head === 'operations' && arg && parts.length === 2) return { page: 'operation', id: arg };
  if (head === 'sweeps' && arg && parts.length === 2) return { page: 'sweep', id: arg };
  if (head === 'new' && parts.length <= 2)
    return { page: 'new', kind: arg === 'training' ? 'training' : 'backtest' };
  return { page: 'not-found', path };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}
