/**
 * What the CLI prints. Machine output (tables, summaries, --json) goes to stdout, messages and progress
 * to stderr. Colours (picocolors) only when enabled, decided for each stream on its own: that stream is
 * a TTY or FORCE_COLOR is set, and never with NO_COLOR or --no-color (so `ktrdr workers > file` from a
 * terminal writes no escape codes into the file while its messages stay coloured). Tables (cli-table3)
 * only on a TTY; otherwise tab-separated lines with a header.
 */
import Table from 'cli-table3';
import { createColors } from 'picocolors';

export interface Stream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export type Colors = ReturnType<typeof createColors>;

/** NO_COLOR (or --no-color) always wins; FORCE_COLOR turns colours on without a TTY. */
export function coloursEnabled(
  isTTY: boolean | undefined,
  env: { no_color: boolean; force_color: boolean },
  flag: boolean | undefined,
): boolean {
  if (flag === false || env.no_color) return false;
  if (env.force_color) return true;
  return isTTY === true;
}

/** Whether each stream gets colours (see coloursEnabled). */
export interface StreamColours {
  stdout: boolean;
  stderr: boolean;
}

export class Output {
  /** Colours for what goes to stdout (tables, summaries). */
  readonly c: Colors;
  /** Colours for what goes to stderr (messages, progress). */
  readonly ec: Colors;

  constructor(
    readonly stdout: Stream,
    readonly stderr: Stream,
    readonly colours: StreamColours,
    readonly json: boolean,
  ) {
    this.c = createColors(colours.stdout);
    this.ec = createColors(colours.stderr);
  }

  /** Tables and in-place progress bars need a terminal. */
  get stdoutIsTTY(): boolean {
    return this.stdout.isTTY === true;
  }

  get stderrIsTTY(): boolean {
    return this.stderr.isTTY === true;
  }

  line(text = ''): void {
    this.stdout.write(`${text}\n`);
  }

  /** A message for people: stderr, so stdout stays parseable. */
  note(text: string): void {
    this.stderr.write(`${text}\n`);
  }

  warn(text: string): void {
    this.stderr.write(`${this.ec.yellow('Warning:')} ${text}\n`);
  }

  error(text: string): void {
    this.stderr.write(`${this.ec.red('Error:')} ${text}\n`);
  }

  printJson(value: unknown): void {
    this.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** A table on a TTY; tab-separated lines (header first) otherwise. */
  table(headers: readonly string[], rows: readonly (readonly string[])[]): void {
    if (!this.stdoutIsTTY) {
      this.line(headers.join('\t'));
      for (const r of rows) this.line(r.map((cell) => cell.replace(/[\t\n]/g, ' ')).join('\t'));
      return;
    }
    const t = new Table({
      head: headers.map((h) => this.c.bold(h)),
      style: { head: [], border: [], compact: true },
      chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    });
    for (const r of rows) t.push([...r]);
    this.line(t.toString());
  }

  /** `key  value` lines, keys aligned. */
  pairs(rows: readonly (readonly [string, string])[]): void {
    const width = Math.max(0, ...rows.map(([k]) => k.length));
    for (const [k, v] of rows) this.line(`${this.c.dim(k.padEnd(width))}  ${v}`);
  }
}

/** Colour of a status word. */
export function paintStatus(c: Colors, status: string): string {
  switch (status) {
    case 'completed':
    case 'available':
      return c.green(status);
    case 'failed':
    case 'temporarily_unavailable':
      return c.red(status);
    case 'cancelled':
      return c.yellow(status);
    case 'running':
    case 'busy':
    case 'dispatched':
      return c.cyan(status);
    default:
      return status;
  }
}

/** `12s ago`, `3m ago`, `2h ago` (or the ISO time when it is older than a day). */
export function ago(iso: string | null | undefined, now: number): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return iso;
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return iso;
}

/** `1h 02m`, `3m 05s`, `42s`. */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
