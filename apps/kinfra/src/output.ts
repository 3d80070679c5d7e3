/** Printing: plain lines, JSON, tables, and colours only when enabled (a TTY and no NO_COLOR). */

export interface Writer {
  write(text: string): unknown;
}

export type Colour = 'red' | 'green' | 'yellow' | 'cyan' | 'dim' | 'bold';

const CODES: Record<Colour, [number, number]> = {
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
  dim: [2, 22],
  bold: [1, 22],
};

/** Colours are used only when the stream is a TTY and NO_COLOR is not set. */
export function coloursEnabled(isTTY: boolean | undefined, noColor: boolean): boolean {
  return isTTY === true && !noColor;
}

export class Output {
  constructor(
    readonly stdout: Writer,
    readonly stderr: Writer,
    readonly colours: boolean,
  ) {}

  paint(colour: Colour, text: string): string {
    if (!this.colours) return text;
    const [open, close] = CODES[colour];
    return `\u001b[${open}m${text}\u001b[${close}m`;
  }

  line(text = ''): void {
    this.stdout.write(`${text}\n`);
  }

  /** Progress and notes: stderr, so stdout stays parseable with --json. */
  note(text: string): void {
    this.stderr.write(`${text}\n`);
  }

  warn(text: string): void {
    this.stderr.write(`${this.paint('yellow', 'Warning:')} ${text}\n`);
  }

  error(text: string): void {
    this.stderr.write(`${this.paint('red', 'Error:')} ${text}\n`);
  }

  json(value: unknown): void {
    this.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

export function visibleLength(text: string): number {
  return text.replace(ANSI, '').length;
}

/** A left-aligned table with a header rule; cells may contain colour codes. */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string[] {
  const widths = headers.map((h, i) =>
    Math.max(visibleLength(h), ...rows.map((r) => visibleLength(r[i] ?? ''))),
  );
  const fmt = (cells: readonly string[]): string =>
    cells
      .map((c, i) =>
        i === cells.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - visibleLength(c)),
      )
      .join('  ')
      .trimEnd();
  return [fmt(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)];
}

// ---------------------------------------------------------------------------------------------------
// What the sandbox commands print (the commands decide; these functions only format).

export const URL_LABELS: Readonly<Record<string, string>> = Object.freeze({
  api: 'API',
  swagger: 'Swagger UI',
  grafana: 'Grafana',
  prometheus: 'Prometheus',
  jaeger_ui: 'Jaeger UI',
  postgres: 'PostgreSQL',
});

/** The slot's URLs, one per line, labels aligned. */
export function printUrls(out: Output, urls: Readonly<Record<string, string>>): void {
  const width = Math.max(...Object.values(URL_LABELS).map((l) => l.length)) + 1;
  for (const [key, url] of Object.entries(urls)) {
    out.line(`  ${`${URL_LABELS[key] ?? key}:`.padEnd(width)} ${out.paint('cyan', url)}`);
  }
}

export interface ProvisionLine {
  slot_id: number;
  profile: string;
  ports: { api: number; db: number };
  action: 'created' | 'would_create' | 'skipped';
  restored_files: string[];
  registry_entry_restored: boolean;
}

export function printProvision(
  out: Output,
  results: readonly ProvisionLine[],
  dryRun: boolean,
  sandboxesDir: string,
): void {
  for (const r of results) {
    if (r.action === 'would_create') {
      out.line(
        `Would create slot ${r.slot_id} (${r.profile}): API=${r.ports.api}, DB=${r.ports.db}`,
      );
    } else if (r.action === 'created') {
      out.line(`${out.paint('green', 'Created')} slot ${r.slot_id} (${r.profile})`);
    } else {
      out.line(`Slot ${r.slot_id} already exists, skipping`);
      if (r.restored_files.length > 0) {
        out.line(`Restored missing file(s) of slot ${r.slot_id}: ${r.restored_files.join(', ')}`);
      }
      if (r.registry_entry_restored) out.line(`Restored registry entry of slot ${r.slot_id}`);
    }
  }
  const count = (a: ProvisionLine['action']): number =>
    results.filter((r) => r.action === a).length;
  if (count('created') > 0) out.line(`Created ${count('created')} slot(s)`);
  if (count('skipped') > 0) out.line(`Skipped ${count('skipped')} existing slot(s)`);
  // Context on stderr: stdout carries exactly the lines the issue specifies.
  if (dryRun) {
    out.note(
      `Dry run: nothing was created (would create ${count('would_create')} slot(s) in ${sandboxesDir})`,
    );
  } else {
    out.note(out.paint('dim', `Sandboxes: ${sandboxesDir}`));
  }
}

export interface SlotTableRow {
  slot_id: number;
  profile: string;
  ports: { api: number };
  provisioned: boolean;
  claimed_by: string | null;
  status: string;
  stale_claim_released: string | null;
}

export function printSlotTable(out: Output, rows: readonly SlotTableRow[]): void {
  const statusCell = (s: string): string =>
    s === 'running'
      ? out.paint('green', s)
      : s === 'failed'
        ? out.paint('red', s)
        : s === 'not provisioned'
          ? out.paint('dim', s)
          : s;
  const table = formatTable(
    ['Slot', 'Profile', 'API Port', 'Claimed By', 'Status'],
    rows.map((r) => [
      String(r.slot_id),
      r.profile,
      String(r.ports.api),
      r.stale_claim_released
        ? out.paint('yellow', `${r.stale_claim_released} (stale, released)`)
        : (r.claimed_by ?? '-'),
      statusCell(r.status),
    ]),
  );
  for (const l of table) out.line(l);
  if (rows.every((r) => !r.provisioned)) {
    out.line('No slots are provisioned yet: run "kinfra sandbox provision".');
  }
}

export function printClaim(
  out: Output,
  c: {
    slot_id: number;
    profile: string;
    claimed_by: string;
    already_claimed: boolean;
    took_over_stale_claim_of: string | null;
    env_file: string;
  },
  apiUrl: string,
): void {
  if (c.already_claimed) {
    out.line(`Slot ${c.slot_id} (${c.profile}) is already claimed by ${c.claimed_by}`);
  } else {
    out.line(
      `${out.paint('green', 'Claimed')} slot ${c.slot_id} (${c.profile}) for ${c.claimed_by}`,
    );
    if (c.took_over_stale_claim_of) {
      out.line(
        `(took over the stale claim of ${c.took_over_stale_claim_of}, which no longer exists)`,
      );
    }
  }
  out.line(`  API:      ${apiUrl}`);
  out.line(`  Env file: ${c.env_file}`);
  out.line(`Start it with: kinfra sandbox up ${c.slot_id}`);
}

export function printRelease(
  out: Output,
  r: { slot_id: number; released: boolean; previous_claimant: string | null; status: string },
): void {
  if (!r.released) {
    out.line(`Slot ${r.slot_id} is not claimed`);
  } else {
    out.line(`Released slot ${r.slot_id} (was claimed by ${r.previous_claimant})`);
  }
  if (r.status === 'running' || r.status === 'starting') {
    out.warn(
      `slot ${r.slot_id} is still ${r.status}; stop it with "kinfra sandbox down ${r.slot_id}"`,
    );
  }
}

export interface StatusView {
  slot_id: number;
  profile: string;
  compose_project: string;
  claimed_by: string | null;
  state: 'up' | 'starting' | 'degraded' | 'down';
  summary: string;
  services: {
    service: string;
    container: string;
    status: string;
    health: string | undefined;
    restart_count: number;
  }[];
  containers: string[];
  backend_healthy: boolean;
  workers_registered: number | undefined;
  expected_workers: number;
  urls: Record<string, string>;
  error?: string;
}

export function printStatus(out: Output, s: StatusView): void {
  out.line(
    `Slot ${s.slot_id} (${s.profile}), project ${s.compose_project}, claimed by ${s.claimed_by ?? '-'}`,
  );
  const stateColour: Colour =
    s.state === 'up' ? 'green' : s.state === 'starting' ? 'yellow' : 'red';
  out.line(`State: ${out.paint(stateColour, s.summary)}`);
  if (s.containers.length === 0) {
    out.line('No containers are running');
    return;
  }
  if (s.services.length > 0) {
    const table = formatTable(
      ['Service', 'Container', 'Status', 'Health', 'Restarts'],
      s.services.map((c) => [
        c.service,
        c.container,
        c.status === 'running' ? c.status : out.paint('red', c.status),
        c.health === undefined
          ? '-'
          : c.health === 'healthy'
            ? c.health
            : out.paint(c.health === 'starting' ? 'yellow' : 'red', c.health),
        c.restart_count > 0 ? out.paint('red', String(c.restart_count)) : '0',
      ]),
    );
    for (const l of table) out.line(l);
  }
  out.line(
    `Backend: ${s.backend_healthy ? out.paint('green', 'healthy') : out.paint('red', 'not healthy')}` +
      `, workers registered: ${s.workers_registered ?? '?'}/${s.expected_workers}` +
      (s.error ? ` (${s.error})` : ''),
  );
  printUrls(out, s.urls);
}
