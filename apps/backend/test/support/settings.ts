import { DEFAULT_BACKEND_SETTINGS } from '../../src/config/defaults';
import type { BackendSettings } from '../../src/config/settings';

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? Partial<T[K]> : T[K] };

/** The documented defaults with some fields replaced. */
export function testSettings(overrides: DeepPartial<BackendSettings> = {}): BackendSettings {
  const d = DEFAULT_BACKEND_SETTINGS;
  return {
    worker: { ...d.worker, ...overrides.worker },
    orphan: { ...d.orphan, ...overrides.orphan },
    operations: { ...d.operations, ...overrides.operations },
    api: { ...d.api, ...overrides.api },
    events: { ...d.events, ...overrides.events },
  };
}
