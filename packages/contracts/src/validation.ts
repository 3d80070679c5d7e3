import { plainToInstance, type ClassConstructor } from 'class-transformer';
import {
  IsUrl,
  Matches,
  MaxLength,
  getMetadataStorage,
  registerDecorator,
  validateSync,
  type ValidationArguments,
  type ValidationError,
  type ValidationOptions,
} from 'class-validator';
import { applyDecorators } from '@nestjs/common';

/** Ids (workers, operations, leases): 1–128 characters, letters, digits and `._:-`, starting alphanumeric. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
export const ID_MAX_LENGTH = 128;

export function IsId(options?: ValidationOptions): PropertyDecorator {
  return applyDecorators(
    MaxLength(ID_MAX_LENGTH, {
      ...options,
      message: `$property must be at most ${ID_MAX_LENGTH} characters`,
    }),
    Matches(ID_PATTERN, {
      ...options,
      message:
        '$property must start with a letter or digit and contain only letters, digits, ".", "_", ":" or "-"',
    }),
  );
}

/** An http(s) URL with a host (container names such as `backtest-worker-1` are fine). */
export function IsEndpointUrl(options?: ValidationOptions): PropertyDecorator {
  return IsUrl(
    {
      protocols: ['http', 'https'],
      require_protocol: true,
      require_tld: false,
      require_host: true,
    },
    {
      ...options,
      message: '$property must be an http(s) URL with a host, e.g. http://worker-1:5003',
    },
  );
}

function compareToField(
  name: string,
  property: string,
  test: (value: number, other: number) => boolean,
  describe: string,
  options?: ValidationOptions,
): PropertyDecorator {
  return (target: object, propertyName: string | symbol) => {
    registerDecorator({
      name,
      target: target.constructor,
      propertyName: String(propertyName),
      constraints: [property],
      options: { message: `$property must be ${describe} ${property}`, ...options },
      validator: {
        validate(value: unknown, args: ValidationArguments): boolean {
          const other = (args.object as Record<string, unknown>)[args.constraints[0] as string];
          const a = toComparable(value);
          const b = toComparable(other);
          if (a === null || b === null) return true; // the fields' own validators report bad values
          return test(a, b);
        },
      },
    });
  };
}

function toComparable(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string') {
    const t = Date.parse(value);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}

/** The value must be strictly less than another numeric field of the same object. */
export function IsLessThanField(property: string, options?: ValidationOptions): PropertyDecorator {
  return compareToField('isLessThanField', property, (a, b) => a < b, 'less than', options);
}

/** The date must be strictly after another date field of the same object. */
export function IsAfterField(property: string, options?: ValidationOptions): PropertyDecorator {
  return compareToField('isAfterField', property, (a, b) => a > b, 'after', options);
}

/**
 * Flattens class-validator errors into one line per problem, each starting with the dotted path
 * of the offending field, e.g. `strategy.fast_period must be less than slow_period`.
 */
export function formatValidationErrors(errors: ValidationError[], parent = ''): string[] {
  const lines: string[] = [];
  for (const error of errors) {
    const path = joinPath(parent, error.property);
    const messages = Object.values(error.constraints ?? {});
    const unknown = messages.some((m) => /^property .* should not exist$/.test(m));
    if (unknown) {
      lines.push(`${path}: unknown field (not allowed)`);
    } else if (error.value === undefined && messages.length > 0 && !error.children?.length) {
      // A missing field fails every constraint it has; one line says what is wrong.
      lines.push(`${path} is required`);
    } else {
      for (const message of messages) {
        // class-validator messages start with the bare property name; put the full path first.
        lines.push(
          message.startsWith(error.property) && error.property !== ''
            ? `${path} ${message.slice(error.property.length).trimStart()}`
            : `${path}: ${message}`,
        );
      }
    }
    if (error.children && error.children.length > 0) {
      lines.push(...formatValidationErrors(error.children, path));
    }
  }
  return lines;
}

/**
 * `<class id>:<payload text>` of payloads found valid, with the instance class-transformer made of
 * it: a bounded memo of validatePayload (the oldest go first), at most 4,096 texts of at most 1 kB
 * each. The instance is never handed out, only copies of it (see copyInstance).
 */
const validPayloads = new Map<string, object>();
const VALID_PAYLOADS = 4096;
const VALID_PAYLOAD_MAX_TEXT = 1024;
const classIds = new WeakMap<object, number>();
let nextClassId = 0;
function classId(cls: object): number {
  let id = classIds.get(cls);
  if (id === undefined) {
    id = nextClassId++;
    classIds.set(cls, id);
  }
  return id;
}
const SMALL_PAYLOAD_NODES = 32;

/**
 * class-validator looks up a class's rules on every validation by walking every decorated class
 * (`instanceof` each, for inherited rules): with the ~100 DTOs here that is a measurable share of
 * each request. The lookup is memoised per class and options, and the memo is dropped whenever a
 * rule is added (a class defined later), so the answer is always the library's own. Installed once
 * per metadata storage (the storage is global to the class-validator copy).
 */
function memoiseRuleLookup(): void {
  type Storage = ReturnType<typeof getMetadataStorage> & { [MEMOISED]?: true };
  const storage = getMetadataStorage() as Storage;
  if (storage[MEMOISED]) return;
  storage[MEMOISED] = true;
  const lookup = storage.getTargetValidationMetadatas.bind(storage);
  const add = storage.addValidationMetadata.bind(storage);
  const addSchema = storage.addValidationSchema.bind(storage);
  let memo = new Map<unknown, Map<string, ReturnType<typeof lookup>>>();
  storage.addValidationMetadata = (metadata) => {
    memo = new Map();
    validPayloads.clear();
    add(metadata);
  };
  storage.addValidationSchema = (schema) => {
    memo = new Map();
    validPayloads.clear();
    addSchema(schema);
  };
  storage.getTargetValidationMetadatas = (target, schema, always, strictGroups, groups) => {
    const key = `${schema}\u0000${always}\u0000${strictGroups}\u0000${(groups ?? []).join('\u0000')}`;
    let byOptions = memo.get(target);
    if (!byOptions) {
      byOptions = new Map();
      memo.set(target, byOptions);
    }
    let found = byOptions.get(key);
    if (!found) {
      found = lookup(target, schema, always, strictGroups, groups);
      byOptions.set(key, found);
    }
    // A copy: callers may change the list they get.
    return found.slice();
  };
}
const MEMOISED = Symbol.for('ktrdr.contracts.memoisedRuleLookup');
memoiseRuleLookup();

/** The options the backend and the workers validate wire payloads with. */
export const WIRE_VALIDATION_OPTIONS = {
  whitelist: true,
  forbidNonWhitelisted: true,
  forbidUnknownValues: true,
} as const;

/** Nesting deeper than this is refused before any transformation (class-transformer recurses). */
export const MAX_WIRE_DEPTH = 64;

/** Keys refused anywhere in a payload: they crash or pollute object transformation. */
export const FORBIDDEN_WIRE_KEYS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
]);

/** NUL, or a UTF-16 surrogate without its pair: PostgreSQL text and jsonb cannot store them. */
// eslint-disable-next-line no-control-regex -- matching NUL is the point
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `s` holds a NUL character or an unpaired surrogate. */
export function hasUnstorableCharacters(s: string): boolean {
  return UNSTORABLE.test(s);
}

/** Replaces NUL characters and unpaired surrogates with U+FFFD (for text that must be stored). */
export function toStorableText(s: string): string {
  return UNSTORABLE.test(s) ? s.replace(new RegExp(UNSTORABLE.source, 'g'), '\uFFFD') : s;
}

/** Keys shown as is in a dotted path; any other key is shown quoted, `["a b"]`. */
const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$|^\d+$/;

/** Appends a key to a dotted path: `a.b`, `a.0`, `a["x y"]`, `["x y"]` at the root. */
export function joinPath(parent: string, key: string): string {
  if (PLAIN_KEY.test(key)) return parent === '' ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key)}]`;
}

/**
 * What every 400 message starts with: the dotted path of the field it is about (or `body`, `query`,
 * `id`), then `: ` or a verb (`must`, `is`, `has`, `should`, `cannot`).
 */
export const PATH_MESSAGE_PATTERN =
  /^(?:[A-Za-z_$][\w$-]*|\d+|\["(?:[^"\\]|\\.)*"\])(?:\.[\w$-]+|\["(?:[^"\\]|\\.)*"\])*(?::\s| must\b| is\b| has\b| should\b| cannot\b)/;

interface Node {
  value: unknown;
  parent: Node | null;
  key: string;
  depth: number;
}

function pathOf(node: Node, root: string): string {
  const parts: string[] = [];
  for (let n: Node | null = node; n && n.parent; n = n.parent) parts.push(n.key);
  parts.reverse();
  let out = '';
  for (const k of parts) out = joinPath(out, k);
  return out === '' ? root : out;
}

/**
 * Checks a parsed JSON payload before any transformation, iteratively (no recursion, so any nesting
 * is safe): nesting at most `maxDepth` levels, no `__proto__`/`constructor`/`prototype` key, no string
 * or key with a NUL character or an unpaired surrogate. Returns one message naming the dotted path of
 * the first problem (`root` for the payload itself), or null.
 */
export function findUnsafeInput(
  payload: unknown,
  root = 'body',
  maxDepth: number = MAX_WIRE_DEPTH,
): string | null {
  const stack: Node[] = [{ value: payload, parent: null, key: '', depth: 0 }];
  while (stack.length > 0) {
    const node = stack.pop() as Node;
    const v = node.value;
    if (typeof v === 'string') {
      if (UNSTORABLE.test(v)) {
        return `${pathOf(node, root)} must not contain NUL characters or unpaired UTF-16 surrogates`;
      }
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (node.depth >= maxDepth) {
      return `${pathOf(node, root)} is nested too deeply (at most ${maxDepth} levels of objects and arrays)`;
    }
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push({ value: v[i], parent: node, key: String(i), depth: node.depth + 1 });
      }
      continue;
    }
    const keys = Object.keys(v);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i] as string;
      if (FORBIDDEN_WIRE_KEYS.has(key)) {
        const at = pathOf({ value: null, parent: node, key, depth: node.depth + 1 }, root);
        return `${at}: the key "${key}" is not allowed`;
      }
      if (UNSTORABLE.test(key)) {
        return `${pathOf(node, root)} has a key with NUL characters or unpaired UTF-16 surrogates (${JSON.stringify(key)})`;
      }
      stack.push({
        value: (v as Record<string, unknown>)[key],
        parent: node,
        key,
        depth: node.depth + 1,
      });
    }
  }
  return null;
}

export type ValidationOutcome<T> = { ok: true; value: T } | { ok: false; errors: string[] };

/**
 * Validates a plain payload against a DTO class; returns the typed instance or one line per
 * problem, each starting with the path of what it is about (`root` names the payload: `body`,
 * `query`). Unsafe input (depth, forbidden keys, unstorable characters) is refused before any
 * transformation. The one validation of wire payloads: the backend's pipe and the workers use it.
 */
export function validatePayload<T extends object>(
  cls: ClassConstructor<T>,
  payload: unknown,
  root = 'body',
): ValidationOutcome<T> {
  if (payload !== null && typeof payload === 'object') {
    const unsafe = findUnsafeInput(payload, root);
    if (unsafe) return { ok: false, errors: [unsafe] };
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    return { ok: false, errors: [`${root} must be a JSON object`] };
  }
  // A small payload of plain JSON data is known by its text: the same text was valid before, so it
  // is now (the rules are pure functions of the data), and the answer is a copy of the instance
  // made then — neither class-transformer nor class-validator runs again. Heartbeats repeat the
  // same few bodies; the two were ~17 % of a heartbeat's cost in the backend.
  const key = isSmallJsonData(payload) ? `${classId(cls)}:${JSON.stringify(payload)}` : undefined;
  const known = key === undefined ? undefined : validPayloads.get(key);
  if (known !== undefined) return { ok: true, value: copyInstance(known) as T };
  const instance = plainToInstance(cls, payload, { enableImplicitConversion: false });
  const errors = validateSync(instance, WIRE_VALIDATION_OPTIONS);
  if (errors.length > 0) return { ok: false, errors: formatValidationErrors(errors) };
  if (key !== undefined && key.length <= VALID_PAYLOAD_MAX_TEXT && isCopyable(instance)) {
    if (validPayloads.size >= VALID_PAYLOADS) {
      validPayloads.delete(validPayloads.keys().next().value as string);
    }
    validPayloads.set(key, copyInstance(instance) as object);
  }
  return { ok: true, value: instance };
}

/**
 * True when `value` is made of what copyInstance copies faithfully: primitives, arrays, and
 * objects with their own enumerable data properties (a DTO instance, a plain object) or Dates.
 */
function isCopyable(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return typeof value !== 'function';
  if (value instanceof Date) return true;
  if (Array.isArray(value)) return value.every(isCopyable);
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto !== null && proto !== Object.prototype) {
    // A class instance: its own class (not a built-in such as Map, whose state is not in its properties).
    if (Object.getPrototypeOf(proto) !== Object.prototype) return false;
  }
  return Object.values(value).every(isCopyable);
}

/** A deep copy that keeps each object's prototype (what plainToInstance would make again). */
function copyInstance(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return new Date(value.getTime());
  if (Array.isArray(value)) return value.map(copyInstance);
  const out = Object.create(Object.getPrototypeOf(value) as object | null) as Record<
    string,
    unknown
  >;
  for (const key of Object.keys(value))
    out[key] = copyInstance((value as Record<string, unknown>)[key]);
  return out;
}

/**
 * True for at most SMALL_PAYLOAD_NODES values that are all plain JSON data — strings, finite
 * numbers, booleans, null, plain objects and arrays — so that their JSON text stands for them
 * exactly (a Date, NaN or class instance has a text that something else shares, and is validated
 * every time).
 */
function isSmallJsonData(payload: unknown): boolean {
  const stack: unknown[] = [payload];
  let nodes = 0;
  while (stack.length > 0) {
    if (++nodes > SMALL_PAYLOAD_NODES) return false;
    const v = stack.pop();
    if (v === null || typeof v === 'string' || typeof v === 'boolean') continue;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return false;
      continue;
    }
    if (typeof v !== 'object') return false;
    if (Array.isArray(v)) {
      for (const item of v) stack.push(item);
      continue;
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) return false;
    for (const key in v) stack.push((v as Record<string, unknown>)[key]);
  }
  return true;
}
