/**
 * The API key the user typed, kept in sessionStorage (this tab only, gone when it closes); sent as
 * `Authorization: Bearer <key>` on every call. The page holds no other secret.
 */
const KEY = 'ktrdr.apiKey';

type Listener = (needed: boolean) => void;
const listeners = new Set<Listener>();
let needed = false;

function storage(): Storage | null {
  try {
    return typeof sessionStorage === 'undefined' ? null : sessionStorage;
  } catch {
    return null;
  }
}

export function getApiKey(): string | null {
  return storage()?.getItem(KEY) ?? null;
}

export function setApiKey(key: string | null): void {
  const s = storage();
  if (key && key.trim()) s?.setItem(KEY, key.trim());
  else s?.removeItem(KEY);
  setAuthNeeded(false);
}

export function authHeaders(): Record<string, string> {
  const key = getApiKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}

/** Set when the backend answered 401: the page asks for a key. */
export function setAuthNeeded(value: boolean): void {
  if (needed === value) return;
  needed = value;
  for (const l of listeners) l(value);
}

export function isAuthNeeded(): boolean {
  return needed;
}

export function onAuthNeeded(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
