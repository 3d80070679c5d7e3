/**
 * The start forms are built from the backend's own OpenAPI document (docs/openapi.json, generated
 * from the @ktrdr/contracts DTOs the API validates with): field names, required fields, enums,
 * defaults, bounds and descriptions. The API stays the judge: its 400 message names the field
 * (`strategy.fast_period must be less than slow_period`), and `splitFieldErrors` puts each line next
 * to that field.
 */

/** The parts of an OpenAPI 3 schema object the forms read. */
export interface SchemaObject {
  type?: string;
  enum?: unknown[];
  description?: string;
  example?: unknown;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  nullable?: boolean;
  properties?: Record<string, SchemaObject>;
  required?: string[];
  items?: SchemaObject;
  $ref?: string;
  allOf?: SchemaObject[];
}

export interface OpenApiDoc {
  components: { schemas: Record<string, SchemaObject> };
}

export type FieldKind = 'text' | 'number' | 'select' | 'multiselect' | 'number-list' | 'group';

export interface FieldSpec {
  /** Dotted path in the request body, as the API names it in errors. */
  path: string;
  name: string;
  kind: FieldKind;
  required: boolean;
  description?: string;
  options?: string[];
  example?: unknown;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  children?: FieldSpec[];
  /** Shown only while a sibling discriminator has this value (e.g. strategy.type = sma_crossover). */
  showWhen?: { path: string; value: string };
}

function resolve(doc: OpenApiDoc, s: SchemaObject): SchemaObject {
  let cur = s;
  for (let i = 0; i < 8; i++) {
    const ref = cur.$ref ?? (cur.allOf?.length === 1 ? cur.allOf[0]!.$ref : undefined);
    if (!ref) return cur;
    const name = ref.replace('#/components/schemas/', '');
    const target = doc.components.schemas[name];
    if (!target) throw new Error(`OpenAPI: unknown schema ${ref}`);
    // Keep the referring property's own description (e.g. "Network shape. Default: …").
    cur = { ...target, description: cur.description ?? target.description };
  }
  return cur;
}

function kindOf(s: SchemaObject): FieldKind {
  if (s.properties) return 'group';
  if (s.enum) return 'select';
  if (s.type === 'array') return s.items?.enum ? 'multiselect' : 'number-list';
  if (s.type === 'number' || s.type === 'integer') return 'number';
  return 'text';
}

function fieldsOf(doc: OpenApiDoc, schema: SchemaObject, parent: string): FieldSpec[] {
  const props = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  // A `type` enum among the properties discriminates the others by their description prefix
  // ("sma_crossover: fast SMA period").
  const discriminator = props.type?.enum ? (props.type.enum.map(String) as string[]) : null;
  const out: FieldSpec[] = [];
  for (const [name, raw] of Object.entries(props)) {
    const s = resolve(doc, raw);
    const path = parent ? `${parent}.${name}` : name;
    const kind = kindOf(s);
    let description = s.description;
    let showWhen: FieldSpec['showWhen'];
    if (discriminator && name !== 'type' && description) {
      const m = /^([a-z0-9_]+):\s*(.*)$/.exec(description);
      if (m && discriminator.includes(m[1]!)) {
        showWhen = { path: parent ? `${parent}.type` : 'type', value: m[1]! };
        description = m[2];
      }
    }
    const options =
      kind === 'select'
        ? s.enum!.map(String)
        : kind === 'multiselect'
          ? s.items!.enum!.map(String)
          : undefined;
    out.push({
      path,
      name,
      kind,
      required: required.has(name),
      description,
      options,
      example: s.example,
      default: s.default,
      minimum: s.minimum,
      maximum: s.maximum,
      children: kind === 'group' ? fieldsOf(doc, s, path) : undefined,
      showWhen,
    });
  }
  return out;
}

/** The fields of one request schema (e.g. `BacktestStartRequestDto`). */
export function formFields(doc: OpenApiDoc, schemaName: string): FieldSpec[] {
  const schema = doc.components.schemas[schemaName];
  if (!schema) throw new Error(`OpenAPI: no schema ${schemaName}`);
  return fieldsOf(doc, schema, '');
}

export function flatten(fields: readonly FieldSpec[]): FieldSpec[] {
  return fields.flatMap((f) => [f, ...flatten(f.children ?? [])]);
}

export type FormValue = string | string[];
export type FormValues = Record<string, FormValue>;

function exampleText(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return v.join(', ');
  return String(v);
}

/**
 * Starting values: required fields and the fields of the default discriminator value get the
 * contract's example, so the first run is one click; everything else starts empty (the API's
 * default applies, shown as the placeholder).
 */
export function initialValues(fields: readonly FieldSpec[]): FormValues {
  const values: FormValues = {};
  // Only fields the request needs are seeded: required all the way up (a required field inside an
  // optional group, such as early_stopping.patience, stays empty so the group is left out).
  const seed = (list: readonly FieldSpec[], needed: boolean) => {
    for (const f of list) {
      const need = needed && (f.required || f.showWhen !== undefined);
      if (f.kind === 'group') {
        seed(f.children ?? [], need);
        continue;
      }
      if (f.kind === 'multiselect') {
        values[f.path] = [];
        continue;
      }
      values[f.path] = (need ? exampleText(f.example) : undefined) ?? '';
    }
  };
  seed(fields, true);
  // A discriminated field is seeded only for the discriminator's starting value.
  for (const f of flatten(fields)) {
    if (f.showWhen && values[f.showWhen.path] !== f.showWhen.value) values[f.path] = '';
  }
  return values;
}

export function isVisible(f: FieldSpec, values: FormValues): boolean {
  return !f.showWhen || values[f.showWhen.path] === f.showWhen.value;
}

function toNumber(text: string): number | string {
  const n = Number(text);
  // Not a number: sent as typed, so the API's message names the field.
  return text.trim() !== '' && Number.isFinite(n) ? n : text;
}

function build(fields: readonly FieldSpec[], values: FormValues): Record<string, unknown> | null {
  const body: Record<string, unknown> = {};
  for (const f of fields) {
    if (!isVisible(f, values)) continue;
    if (f.kind === 'group') {
      const child = build(f.children ?? [], values);
      if (child || f.required) body[f.name] = child ?? {};
      continue;
    }
    const v = values[f.path];
    if (f.kind === 'multiselect') {
      if (Array.isArray(v) && v.length > 0) body[f.name] = v;
      continue;
    }
    const text = typeof v === 'string' ? v.trim() : '';
    if (text === '') continue;
    if (f.kind === 'number') body[f.name] = toNumber(text);
    else if (f.kind === 'number-list')
      body[f.name] = text
        .split(/[\s,]+/)
        .filter(Boolean)
        .map(toNumber);
    else body[f.name] = text;
  }
  return Object.keys(body).length > 0 ? body : null;
}

/** The JSON body from the form values (empty optional fields left out). */
export function buildBody(
  fields: readonly FieldSpec[],
  values: FormValues,
): Record<string, unknown> {
  return build(fields, values) ?? {};
}

export interface SplitErrors {
  byField: Record<string, string[]>;
  general: string[];
}

/**
 * A sweep child's problems name the field of the base request: `base.strategy.fast_period must …
 * (child 3: fast_period=5, slow_period=30)`; the field is the path after `base`.
 */
const CHILD_PREFIX = /^base(?:\.(?=\w)|(?=\[))/;

/**
 * One line per problem (the backend joins them with "; "), each put next to the longest field path
 * it starts with (`grid.fast_period …` goes to `grid`; a sweep child's `strategy.fast_period …` to
 * that field); lines naming no known field stay general.
 */
export function splitFieldErrors(message: string, paths: readonly string[]): SplitErrors {
  const byField: Record<string, string[]> = {};
  const general: string[] = [];
  const sorted = [...paths].sort((a, b) => b.length - a.length);
  const lines = message
    .split('; ')
    .map((l) => l.trim())
    .filter(Boolean);
  for (const line of lines) {
    const bare = line.replace(CHILD_PREFIX, '');
    const path = sorted.find(
      (p) =>
        bare === p ||
        bare.startsWith(`${p} `) ||
        bare.startsWith(`${p}:`) ||
        bare.startsWith(`${p}.`) ||
        bare.startsWith(`${p}[`),
    );
    if (path) (byField[path] ??= []).push(line);
    else general.push(line);
  }
  return { byField, general };
}
