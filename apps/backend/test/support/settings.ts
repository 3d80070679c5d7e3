import { sha256Hex } from '@ktrdr/config';
import { DEFAULT_BACKEND_SETTINGS } from '../../src/config/defaults';
import type { BackendSettings } from '../../src/config/settings';

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? Partial<T[K]> : T[K] };

/** Credentials of the test settings (never used outside tests). */
export const TEST_WORKER_TOKEN = 'test-registration-token-0123456789abcdef';
export const TEST_OPERATE_KEY = 'test-operate-key-0123456789abcdef0123456789';
export const TEST_READ_KEY = 'test-read-key-0123456789abcdef0123456789abcd';

/** Headers that pass the access guard on every route (user key and worker token). */
export const TEST_AUTH_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  authorization: `Bearer ${TEST_OPERATE_KEY}`,
  'x-ktrdr-worker-token': TEST_WORKER_TOKEN,
});

/** The documented defaults with test credentials, and some fields replaced. */
export function testSettings(overrides: DeepPartial<BackendSettings> = {}): BackendSettings {
  const d = DEFAULT_BACKEND_SETTINGS;
  return {
    worker: { ...d.worker, registration_token: TEST_WORKER_TOKEN, ...overrides.worker },
    orphan: { ...d.orphan, ...overrides.orphan },
    operations: { ...d.operations, ...overrides.operations },
    api: { ...d.api, ...overrides.api },
    events: { ...d.events, ...overrides.events },
    auth: {
      ...d.auth,
      keys: [
        { name: 'test-operate', role: 'operate', sha256: sha256Hex(TEST_OPERATE_KEY) },
        { name: 'test-read', role: 'read', sha256: sha256Hex(TEST_READ_KEY) },
      ],
      ...overrides.auth,
    },
  };
}
