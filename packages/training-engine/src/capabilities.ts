import { execFile } from 'node:child_process';
import { availableParallelism, cpus, totalmem } from 'node:os';

/** Host capabilities a training worker advertises at registration (snake_case: on the wire). */
export interface HostCapabilities {
  gpu: boolean;
  /** Name of the first GPU (e.g. "NVIDIA H100 80GB HBM3"), null without a GPU. */
  gpu_type: string | null;
  gpu_count: number;
  gpu_names: string[];
  /** Total memory of each GPU in MiB (0 when nvidia-smi reports it as N/A). */
  gpu_memory_mb: number[];
  cpu_count: number;
  /** Total RAM in GiB, one decimal. */
  memory_gb: number;
}

export interface GpuInfo {
  name: string;
  memory_mb: number;
}

/** Arguments for the query this module parses. */
export const NVIDIA_SMI_ARGS = ['--query-gpu=name,memory.total', '--format=csv,noheader'];

const MEMORY_PATTERN = /^(\d+(?:\.\d+)?)\s*(MiB|MB|GiB|GB)?$/i;

function parseMemory(text: string): number | null {
  const t = text.trim();
  if (/^\[?N\/A\]?$/i.test(t) || /^\[Not Supported\]$/i.test(t)) return 0;
  const m = MEMORY_PATTERN.exec(t);
  if (!m) return null;
  const v = Number(m[1]);
  const unit = (m[2] ?? 'MiB').toLowerCase();
  return unit === 'gib' || unit === 'gb' ? Math.round(v * 1024) : Math.round(v);
}

function hasControlChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 0x20) return true;
  return false;
}

/**
 * Parses the output of `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader`
 * (one `NAME, 81559 MiB` line per GPU). Also accepts the same query with a header line
 * (`name, memory.total [MiB], ...`; columns are then located by header). Lines that do not look
 * like a GPU row (driver error messages, garbage) are ignored, so garbage yields [].
 */
export function parseNvidiaSmiCsv(text: string): GpuInfo[] {
  if (typeof text !== 'string') return [];
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (lines.length === 0) return [];
  let nameCol = -1;
  let memCol = -1;
  const first = lines[0].split(',').map((h) => h.trim().toLowerCase());
  if (first[0] === 'name' && first.some((h) => h.startsWith('memory.total'))) {
    nameCol = 0;
    memCol = first.findIndex((h) => h.startsWith('memory.total'));
    lines.shift();
  }
  const gpus: GpuInfo[] = [];
  for (const line of lines) {
    const cells = line.split(',').map((c) => c.trim());
    if (cells.length < 2) continue;
    let name: string;
    let memText: string;
    if (nameCol >= 0) {
      if (cells.length !== first.length) continue;
      name = cells[nameCol];
      memText = cells[memCol];
    } else {
      name = cells.slice(0, -1).join(', ');
      memText = cells[cells.length - 1];
    }
    const memory = parseMemory(memText);
    if (memory === null || name === '' || name.length > 200 || hasControlChars(name)) continue;
    gpus.push({ name, memory_mb: memory });
  }
  return gpus;
}

export interface ExecNvidiaSmiOptions {
  /** Binary to run (default `nvidia-smi`, looked up on PATH; no shell is involved). */
  command?: string;
  args?: string[];
  /** Kill it after this many ms (default 5000). */
  timeoutMs?: number;
}

/**
 * Runs nvidia-smi with execFile (no shell) and a timeout. Resolves to its stdout, or null when
 * the binary is missing, exits non-zero, times out or fails in any other way. Never rejects.
 */
export function execNvidiaSmi(opts: ExecNvidiaSmiOptions = {}): Promise<string | null> {
  const command = opts.command ?? 'nvidia-smi';
  const args = opts.args ?? NVIDIA_SMI_ARGS;
  const timeout = opts.timeoutMs ?? 5000;
  return new Promise((resolvePromise) => {
    try {
      execFile(
        command,
        args,
        {
          timeout,
          killSignal: 'SIGKILL',
          maxBuffer: 1024 * 1024,
          windowsHide: true,
          encoding: 'utf8',
        },
        (err, stdout) => resolvePromise(err ? null : stdout),
      );
    } catch {
      resolvePromise(null);
    }
  });
}

export interface DetectCapabilitiesOptions {
  /** Replaces running nvidia-smi (tests, or hosts that know better); null = no GPU. */
  runNvidiaSmi?: () => Promise<string | null> | string | null;
  /** Timeout for the default nvidia-smi run (ms). */
  timeoutMs?: number;
}

function cpuCount(): number {
  try {
    return Math.max(1, availableParallelism());
  } catch {
    return Math.max(1, cpus().length);
  }
}

/**
 * Detects GPUs (via nvidia-smi) and CPU/RAM. A missing or failing nvidia-smi, a thrown or
 * rejected `runNvidiaSmi`, or unparseable output all mean "no GPU"; this never throws.
 * Note: this only detects and advertises GPUs; the training engine itself runs on the CPU.
 */
export async function detectCapabilities(
  opts: DetectCapabilitiesOptions = {},
): Promise<HostCapabilities> {
  let output: string | null = null;
  try {
    output = await (opts.runNvidiaSmi
      ? opts.runNvidiaSmi()
      : execNvidiaSmi({ timeoutMs: opts.timeoutMs }));
  } catch {
    output = null;
  }
  const gpus = typeof output === 'string' ? parseNvidiaSmiCsv(output) : [];
  return {
    gpu: gpus.length > 0,
    gpu_type: gpus.length > 0 ? gpus[0].name : null,
    gpu_count: gpus.length,
    gpu_names: gpus.map((g) => g.name),
    gpu_memory_mb: gpus.map((g) => g.memory_mb),
    cpu_count: cpuCount(),
    memory_gb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
  };
}
