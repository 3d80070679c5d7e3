/**
 * Is a host port free? We try to bind it on 127.0.0.1 and on 0.0.0.0 (what Docker publishes on). When it is
 * taken we try to say who holds it: `ss -ltnpH` first, then /proc/net/tcp{,6} + /proc/<pid>/fd.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { Exec } from './exec';

export type PortCheck =
  | { port: number; free: true }
  | { port: number; free: false; address: string; reason: string; holder?: string };

export type PortChecker = (port: number) => Promise<PortCheck>;

function tryBind(port: number, host: string): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    server.listen({ port, host, exclusive: true }, () => {
      server.close(() => resolve(undefined));
    });
  });
}

export const BIND_HOSTS = ['127.0.0.1', '0.0.0.0'] as const;

/** Binding only: no holder lookup. */
export async function bindCheck(port: number): Promise<PortCheck> {
  for (const host of BIND_HOSTS) {
    const err = await tryBind(port, host);
    if (err) {
      return {
        port,
        free: false,
        address: `${host}:${port}`,
        reason: err.code === 'EADDRINUSE' ? 'in use' : (err.code ?? err.message),
      };
    }
  }
  return { port, free: true };
}

/** Parses `ss -ltnpH` output and returns "pid 123 (name)" for a listener on `port`, if shown. */
export function parseSsHolder(output: string, port: number): string | undefined {
  for (const line of output.split('\n')) {
    const cols = line.trim().split(/\s+/);
    // State Recv-Q Send-Q Local:Port Peer:Port [Process]
    const local = cols.find((c, i) => i >= 3 && /:\d+$/.test(c));
    if (!local || Number(local.slice(local.lastIndexOf(':') + 1)) !== port) continue;
    const m = /users:\(\("([^"]+)",pid=(\d+)/.exec(line);
    if (m) return `pid ${m[2]} (${m[1]})`;
  }
  return undefined;
}

/** Socket inodes of listening TCP sockets on `port`, from /proc/net/tcp-format text. */
export function parseProcNetTcp(text: string, port: number): string[] {
  const inodes: string[] = [];
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 10) continue;
    const local = cols[1] ?? '';
    const state = cols[3];
    const localPort = parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    if (state === '0A' && localPort === port && cols[9] && cols[9] !== '0') inodes.push(cols[9]);
  }
  return inodes;
}

function procHolder(port: number): string | undefined {
  const inodes = new Set<string>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      for (const i of parseProcNetTcp(fs.readFileSync(f, 'utf8'), port)) inodes.add(i);
    } catch {
      // not Linux or not readable
    }
  }
  if (inodes.size === 0) return undefined;
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1] as string)) {
        let name = '';
        try {
          name = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
        } catch {
          // ignore
        }
        return name ? `pid ${pid} (${name})` : `pid ${pid}`;
      }
    }
  }
  return undefined;
}

/** "pid 123 (name)" of the process listening on `port`, when ss or /proc can tell. */
export async function findPortHolder(port: number, exec?: Exec): Promise<string | undefined> {
  if (exec) {
    const r = await exec('ss', ['-ltnpH', `sport = :${port}`]);
    if (r.code === 0) {
      const h = parseSsHolder(r.stdout, port);
      if (h) return h;
    }
  }
  return procHolder(port);
}

export function createPortChecker(exec?: Exec): PortChecker {
  return async (port) => {
    const check = await bindCheck(port);
    if (check.free) return check;
    const holder = await findPortHolder(port, exec);
    return holder ? { ...check, holder } : check;
  };
}
