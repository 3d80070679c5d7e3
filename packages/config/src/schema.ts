/**
 * The declarative schema: one field table per settings class. Loading, validation, DEPRECATED_NAMES,
 * describeSettings() and the generated docs are all derived from these declarations.
 */

export type FieldKind =
  'string' | 'integer' | 'number' | 'boolean' | 'url' | 'enum' | 'list' | 'path';

/** What a computed default can look at. */
export interface DefaultContext {
  /** Values of the fields declared earlier in the same class (already resolved). */
  readonly values: Readonly<Record<string, unknown>>;
  /** The resolved data directory (KTRDR_DATA_DIR or its default), from the same sources. */
  dataDir(): string;
}

export type DefaultValue<V> = V | ((ctx: DefaultContext) => V);

/** Runtime description of one field. `V` is the loaded value type (phantom). */
export interface Field<V> {
  readonly kind: FieldKind;
  readonly description: string;
  readonly default?: DefaultValue<unknown>;
  /** How the default is shown in docs (required for computed defaults). */
  readonly defaultDoc?: string;
  /** Inclusive lower bound (integer/number). */
  readonly min?: number;
  /** Inclusive upper bound (integer/number). */
  readonly max?: number;
  /** Exclusive lower bound (integer/number), e.g. 0 for "> 0". */
  readonly gt?: number;
  /** Allowed values (enum). */
  readonly choices?: readonly string[];
  /** Other accepted spellings of enum values (alias → value), e.g. `prod` → `production`. */
  readonly aliases?: Readonly<Record<string, string>>;
  /** Enum values still accepted for a deprecation period, mapped to their replacement with a warning. */
  readonly deprecatedValues?: Readonly<Record<string, DeprecatedValue>>;
  /** Allowed URL schemes without the colon (url); default http and https. */
  readonly protocols?: readonly string[];
  /** Old variable names still accepted (deprecated), in precedence order. */
  readonly deprecated?: readonly string[];
  /** Never echo the value in any message; left empty in .env.example. */
  readonly secret?: boolean;
  /**
   * The default (or absence) is unsafe outside development: refused when KTRDR_ENV=production unless
   * the variable is set explicitly, warned about otherwise. A function limits it to some configurations.
   */
  readonly insecureDefault?: boolean | ((settings: Readonly<Record<string, unknown>>) => boolean);
  /** Why the default is insecure (shown in the error/warning). */
  readonly insecureReason?: string;
  /**
   * Outside production a generated development secret stands in for the unset value, and the backend
   * says so (once) at start: no insecure-default warning from every service. Production still refuses.
   */
  readonly devSecret?: boolean;
  /** Full environment variable name when it is not `prefix + FIELD_NAME`. */
  readonly env?: string;
  /** Under KTRDR_ENV=production a set value must have at least this many characters (string). */
  readonly productionMinLength?: number;
  /** Every item must match (list), e.g. a hex digest. */
  readonly itemPattern?: RegExp;
  /** What `itemPattern` means, for messages and docs (e.g. "64 hex characters"). */
  readonly itemPatternText?: string;
  /** Phantom: carries the value type for inference; never set at runtime. */
  readonly __type?: V;
}

export type AnyField = Field<unknown>;

interface CommonOptions {
  description: string;
  defaultDoc?: string;
  deprecated?: readonly string[];
  secret?: boolean;
  insecureDefault?: boolean | ((settings: Readonly<Record<string, unknown>>) => boolean);
  insecureReason?: string;
  devSecret?: boolean;
  env?: string;
  productionMinLength?: number;
}

interface ListOptions extends CommonOptions {
  itemPattern?: RegExp;
  itemPatternText?: string;
}

interface NumberOptions extends CommonOptions {
  min?: number;
  max?: number;
  gt?: number;
}

interface UrlOptions extends CommonOptions {
  protocols?: readonly string[];
}

type WithDefault<O, V> = O & { default: DefaultValue<V> };

function field<V>(kind: FieldKind, options: object): Field<V> {
  return Object.freeze({ kind, ...options }) as Field<V>;
}

/** A free-form string. Empty values count as unset. */
export function str(options: WithDefault<CommonOptions, string>): Field<string>;
export function str(options: CommonOptions): Field<string | undefined>;
export function str(options: CommonOptions & { default?: DefaultValue<string> }): AnyField {
  return field('string', options);
}

/** A filesystem path; a leading `~` expands to the home directory. */
export function path(options: WithDefault<CommonOptions, string>): Field<string>;
export function path(options: CommonOptions): Field<string | undefined>;
export function path(options: CommonOptions & { default?: DefaultValue<string> }): AnyField {
  return field('path', options);
}

/** An absolute URL (http/https unless `protocols` says otherwise) with a host. */
export function url(options: WithDefault<UrlOptions, string>): Field<string>;
export function url(options: UrlOptions): Field<string | undefined>;
export function url(options: UrlOptions & { default?: DefaultValue<string> }): AnyField {
  return field('url', options);
}

/** A whole number. */
export function int(options: WithDefault<NumberOptions, number>): Field<number>;
export function int(options: NumberOptions): Field<number | undefined>;
export function int(options: NumberOptions & { default?: DefaultValue<number> }): AnyField {
  return field('integer', options);
}

/** A finite decimal number. */
export function num(options: WithDefault<NumberOptions, number>): Field<number>;
export function num(options: NumberOptions): Field<number | undefined>;
export function num(options: NumberOptions & { default?: DefaultValue<number> }): AnyField {
  return field('number', options);
}

/** true/false, 1/0, yes/no, on/off (case-insensitive). */
export function bool(options: WithDefault<CommonOptions, boolean>): Field<boolean>;
export function bool(options: CommonOptions): Field<boolean | undefined>;
export function bool(options: CommonOptions & { default?: DefaultValue<boolean> }): AnyField {
  return field('boolean', options);
}

/** A comma-separated list of strings (items trimmed, empty items dropped). */
export function list(
  options: WithDefault<ListOptions, readonly string[]>,
): Field<readonly string[]>;
export function list(options: ListOptions): Field<readonly string[] | undefined>;
export function list(
  options: ListOptions & { default?: DefaultValue<readonly string[]> },
): AnyField {
  return field('list', options);
}

/** An enum value that was removed: still accepted, loaded as `value`, and warned about with `reason`. */
export interface DeprecatedValue {
  readonly value: string;
  readonly reason: string;
}

/** One of a fixed set of strings (matched case-insensitively, loaded as declared). */
interface EnumOptions<V extends string> extends CommonOptions {
  /** Other accepted spellings (alias → value), matched case-insensitively. */
  aliases?: Readonly<Record<string, V>>;
  /** Removed values still accepted for a deprecation period (old → replacement, with a warning). */
  deprecatedValues?: Readonly<Record<string, { value: V; reason: string }>>;
}

export function oneOf<const C extends readonly string[]>(
  choices: C,
  options: WithDefault<EnumOptions<C[number]>, C[number]>,
): Field<C[number]>;
export function oneOf<const C extends readonly string[]>(
  choices: C,
  options: EnumOptions<C[number]>,
): Field<C[number] | undefined>;
export function oneOf(
  choices: readonly string[],
  options: EnumOptions<string> & { default?: DefaultValue<string> },
): AnyField {
  return field('enum', {
    ...options,
    choices: Object.freeze([...choices]),
    ...(options.aliases ? { aliases: Object.freeze({ ...options.aliases }) } : {}),
    ...(options.deprecatedValues
      ? { deprecatedValues: Object.freeze({ ...options.deprecatedValues }) }
      : {}),
  });
}

export type FieldTable = Readonly<Record<string, AnyField>>;

/** A settings class: a name, an env prefix and its field table. */
export interface SettingsClass<F extends FieldTable = FieldTable> {
  readonly name: string;
  readonly prefix: string;
  readonly description: string;
  /** Name of the cached getter, for docs. */
  readonly getter: string;
  readonly fields: F;
}

export type AnySettingsClass = SettingsClass<FieldTable>;

type ValueOf<T> = T extends Field<infer V> ? V : never;

/** The loaded (frozen, snake_case) settings object of a class. */
export type SettingsOf<C> =
  C extends SettingsClass<infer F> ? { readonly [K in keyof F]: ValueOf<F[K]> } : never;

export function defineSettings<const F extends FieldTable>(
  definition: SettingsClass<F>,
): SettingsClass<F> {
  return Object.freeze({ ...definition, fields: Object.freeze({ ...definition.fields }) });
}

/** The environment variable a field is read from. */
export function envNameOf(cls: AnySettingsClass, fieldName: string): string {
  const f = cls.fields[fieldName];
  return f?.env ?? `${cls.prefix}${fieldName.toUpperCase()}`;
}
