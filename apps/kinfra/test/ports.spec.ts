import * as net from 'node:net';
import { childProcessEnv } from '@ktrdr/config';
import { createExec } from '../src/exec';
import {
  bindCheck,
  createPortChecker,
  findPortHolder,
  parseProcNetTcp,
  parseSsHolder,
} from '../src/ports';

function listen(host: string): Promise<{ server: net.Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port: 0, host }, () => {
      resolve({ server, port: (server.address() as net.AddressInfo).port });
    });
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((r) => server.close(() => r()));
}

describe('port checks', () => {
  it.each(['127.0.0.1', '0.0.0.0'])(
    'a port held on %s is reported busy, with its holder',
    async (host) => {
      const { server, port } = await listen(host);
      try {
        const check = await createPortChecker(createExec(childProcessEnv()))(port);
        expect(check.free).toBe(false);
        if (check.free) return;
        expect(check.reason).toBe('in use');
        // this very process holds it: ss or /proc must find it
        expect(check.holder).toMatch(new RegExp(`^pid ${process.pid}\\b`));
      } finally {
        await close(server);
      }
    },
  );

  it('finds the holder through /proc when ss is unavailable', async () => {
    const { server, port } = await listen('127.0.0.1');
    try {
      const noSs = createExec(childProcessEnv({ PATH: '/nonexistent' }));
      expect(await findPortHolder(port, noSs)).toMatch(new RegExp(`^pid ${process.pid}\\b`));
    } finally {
      await close(server);
    }
  });

  it('a released port is free again', async () => {
    const { server, port } = await listen('127.0.0.1');
    await close(server);
    expect(await bindCheck(port)).toEqual({ port, free: true });
  });

  it('parses ss output', () => {
    const out =
      'LISTEN 0      511        0.0.0.0:8001      0.0.0.0:*    users:(("docker-proxy",pid=4242,fd=4))\n' +
      'LISTEN 0      511      127.0.0.1:80011     0.0.0.0:*    users:(("other",pid=1,fd=4))\n';
    expect(parseSsHolder(out, 8001)).toBe('pid 4242 (docker-proxy)');
    expect(parseSsHolder(out, 8002)).toBeUndefined();
    expect(parseSsHolder('LISTEN 0 511 [::]:8001 [::]:*\n', 8001)).toBeUndefined();
  });

  it('parses /proc/net/tcp listeners (state 0A) by port', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1F41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000',
      '   1: 0100007F:1F41 0100007F:A000 01 00000000:00000000 00:00000000 00000000     0        0 999 1 0000',
      '   2: 00000000:1F42 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000',
    ].join('\n');
    expect(parseProcNetTcp(text, 8001)).toEqual(['123456']);
    expect(parseProcNetTcp(text, 8002)).toEqual(['777']);
    expect(parseProcNetTcp(text, 8003)).toEqual([]);
  });
});
