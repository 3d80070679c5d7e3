/**
 * The slot pool: how many slots there are, which profile each one has, and which host ports it uses.
 * Everything here is pure so the formulas can be tested without touching the filesystem.
 */
import {
  ApiSettings,
  DatabaseSettings,
  SandboxSettings,
  envNameOf,
  type AnySettingsClass,
} from '@ktrdr/config';

export const SLOT_COUNT = 6;

export const PROFILE_NAMES = ['light', 'standard', 'heavy'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export interface WorkerCounts {
  readonly backtest: number;
  readonly training: number;
}

/** Worker counts per profile. Profiles are ordered: light < standard < heavy. */
export const PROFILES: Readonly<Record<ProfileName, WorkerCounts>> = Object.freeze({
  light: Object.freeze({ backtest: 1, training: 1 }),
  standard: Object.freeze({ backtest: 2, training: 2 }),
  heavy: Object.freeze({ backtest: 4, training: 4 }),
});

/** Slots 1–4 are light, slot 5 standard, slot 6 heavy. */
export function profileForSlot(slot: number): ProfileName {
  assertSlot(slot);
  if (slot <= 4) return 'light';
  if (slot === 5) return 'standard';
  return 'heavy';
}

export function isProfileName(value: string): value is ProfileName {
  return (PROFILE_NAMES as readonly string[]).includes(value);
}

/** 0 for light, 1 for standard, 2 for heavy: a slot "at or above" a profile has a rank >= its rank. */
export function profileRank(profile: ProfileName): number {
  return PROFILE_NAMES.indexOf(profile);
}

export function totalWorkers(counts: WorkerCounts): number {
  return counts.backtest + counts.training;
}

/** A published port as @ktrdr/config declares it: its variable and its default (a compose project's). */
function declaredPort<C extends AnySettingsClass>(
  cls: C,
  field: keyof C['fields'] & string,
): { readonly variable: string; readonly base: number } {
  const base = cls.fields[field]?.default;
  if (typeof base !== 'number') throw new Error(`${cls.name}.${field} declares no default port`);
  return Object.freeze({ variable: envNameOf(cls, field), base });
}

/**
 * The host ports infra/compose/docker-compose.yml publishes, as the settings declare them: the
 * variable compose interpolates and its default, the base of the sandbox formula (slot N publishes
 * base + N, design §7). In .env.sandbox order.
 */
const PUBLISHED_PORTS = Object.freeze({
  api: declaredPort(ApiSettings, 'port'),
  db: declaredPort(DatabaseSettings, 'port'),
  grafana: declaredPort(SandboxSettings, 'grafana_port'),
  jaeger_ui: declaredPort(SandboxSettings, 'jaeger_ui_port'),
  prometheus: declaredPort(SandboxSettings, 'prometheus_port'),
});

export type PortName = keyof typeof PUBLISHED_PORTS;

const PORT_NAMES = Object.keys(PUBLISHED_PORTS) as PortName[];

function perPort<V>(value: (name: PortName) => V): Readonly<Record<PortName, V>> {
  return Object.freeze(
    Object.fromEntries(PORT_NAMES.map((name) => [name, value(name)])) as Record<PortName, V>,
  );
}

/** Host port bases of the sandbox formula: slot N uses base + N (design §7). */
export const PORT_BASES = perPort((name) => PUBLISHED_PORTS[name].base);

/** The compose variable that sets each published port (KTRDR_API_PORT …). */
export const PORT_VARIABLES = perPort((name) => PUBLISHED_PORTS[name].variable);
export type SlotPorts = Readonly<Record<PortName, number>>;

export const PORT_LABELS: Readonly<Record<PortName, string>> = Object.freeze({
  api: 'API',
  db: 'DB',
  grafana: 'Grafana',
  jaeger_ui: 'Jaeger UI',
  prometheus: 'Prometheus',
});

export function slotPorts(slot: number): SlotPorts {
  assertSlot(slot);
  return perPort((name) => PORT_BASES[name] + slot);
}

export function allSlots(): number[] {
  return Array.from({ length: SLOT_COUNT }, (_, i) => i + 1);
}

export function isSlotNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= SLOT_COUNT;
}

export function assertSlot(slot: number): void {
  if (!isSlotNumber(slot)) {
    throw new RangeError(`slot must be an integer from 1 to ${SLOT_COUNT} (got ${String(slot)})`);
  }
}

/** Parses a slot given on the command line ("3"); throws a message naming the argument otherwise. */
export function parseSlotArgument(raw: string): number {
  const trimmed = raw.trim();
  const n = /^\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!isSlotNumber(n)) {
    throw new RangeError(`slot must be an integer from 1 to ${SLOT_COUNT} (got '${raw}')`);
  }
  return n;
}

export function composeProjectName(slot: number): string {
  assertSlot(slot);
  return `ktrdr-slot-${slot}`;
}
