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
