import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { detectCapabilities, execNvidiaSmi, parseNvidiaSmiCsv } from '../src/capabilities';

const fixture = (name: string): string => readFileSync(join(__dirname, 'fixtures', name), 'utf8');

describe('parseNvidiaSmiCsv', () => {
  it('parses the real H100 output of --query-gpu=name,memory.total --format=csv,noheader', () => {
    expect(parseNvidiaSmiCsv(fixture('nvidia-smi-name-memory.csv'))).toEqual([
      { name: 'NVIDIA H100 80GB HBM3', memory_mb: 81559 },
    ]);
  });

  it('parses the real output with a header and extra columns (columns located by header)', () => {
    expect(parseNvidiaSmiCsv(fixture('nvidia-smi-full.csv'))).toEqual([
      { name: 'NVIDIA H100 80GB HBM3', memory_mb: 81559 },
    ]);
  });

  it('parses several GPUs, CRLF line ends and N/A memory', () => {
    const text =
      'NVIDIA A100-SXM4-40GB, 40960 MiB\r\nTesla T4, 15360 MiB\r\nNVIDIA GH200, [N/A]\r\n';
    expect(parseNvidiaSmiCsv(text)).toEqual([
      { name: 'NVIDIA A100-SXM4-40GB', memory_mb: 40960 },
      { name: 'Tesla T4', memory_mb: 15360 },
      { name: 'NVIDIA GH200', memory_mb: 0 },
    ]);
  });

  it('returns [] for empty output', () => {
    expect(parseNvidiaSmiCsv('')).toEqual([]);
    expect(parseNvidiaSmiCsv('\n  \n')).toEqual([]);
  });

  it('returns [] for malformed output and driver error messages', () => {
    expect(parseNvidiaSmiCsv(fixture('nvidia-smi-L.txt'))).toEqual([]); // the -L format is not CSV
    expect(
      parseNvidiaSmiCsv(
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n",
      ),
    ).toEqual([]);
    expect(parseNvidiaSmiCsv('garbage, more garbage\n,\n, 100 MiB\n\u0000\u0001, 5 MiB')).toEqual(
      [],
    );
    expect(parseNvidiaSmiCsv(undefined as unknown as string)).toEqual([]);
  });
});

describe('detectCapabilities', () => {
  it('reports the GPU from (injected) real nvidia-smi output', async () => {
    const caps = await detectCapabilities({
      runNvidiaSmi: () => fixture('nvidia-smi-name-memory.csv'),
    });
    expect(caps).toMatchObject({
      gpu: true,
      gpu_type: 'NVIDIA H100 80GB HBM3',
      gpu_count: 1,
      gpu_names: ['NVIDIA H100 80GB HBM3'],
      gpu_memory_mb: [81559],
    });
    expect(caps.cpu_count).toBeGreaterThanOrEqual(1);
    expect(caps.cpu_count).toBeLessThanOrEqual(Math.max(1, cpus().length));
    expect(caps.memory_gb).toBeGreaterThan(0);
  });

  it.each([
    ['null (missing binary)', () => null],
    ['a rejected promise', () => Promise.reject(new Error('boom'))],
    [
      'a thrown error',
      (): string => {
        throw new Error('boom');
      },
    ],
    ['garbage', () => 'command not found'],
    ['empty output', () => Promise.resolve('')],
  ])('means "no GPU" for %s, without throwing', async (_n, run) => {
    const caps = await detectCapabilities({ runNvidiaSmi: run });
    expect(caps).toMatchObject({
      gpu: false,
      gpu_type: null,
      gpu_count: 0,
      gpu_names: [],
      gpu_memory_mb: [],
    });
  });

  it('without an override runs nvidia-smi (absent here or present) and never throws', async () => {
    const caps = await detectCapabilities({ timeoutMs: 3000 });
    expect(typeof caps.gpu).toBe('boolean');
    expect(caps.gpu_count).toBe(caps.gpu_names.length);
  });
});

describe('execNvidiaSmi', () => {
  const node = process.execPath;
  it('returns stdout of a successful run (no shell: arguments are passed verbatim)', async () => {
    const out = await execNvidiaSmi({
      command: node,
      args: ['-e', 'process.stdout.write(process.argv[1])', 'Tesla T4, 15360 MiB; $(rm -rf /)'],
    });
    expect(out).toBe('Tesla T4, 15360 MiB; $(rm -rf /)');
  });

  it('returns null for a missing binary', async () => {
    await expect(execNvidiaSmi({ command: 'nvidia-smi-does-not-exist-ktrdr' })).resolves.toBeNull();
  });

  it('returns null on a non-zero exit even with output', async () => {
    await expect(
      execNvidiaSmi({
        command: node,
        args: ['-e', 'process.stdout.write("X, 1 MiB"); process.exit(9)'],
      }),
    ).resolves.toBeNull();
  });

  it('returns null when it hangs past the timeout', async () => {
    const t0 = Date.now();
    await expect(
      execNvidiaSmi({ command: node, args: ['-e', 'setTimeout(() => {}, 20000)'], timeoutMs: 300 }),
    ).resolves.toBeNull();
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
