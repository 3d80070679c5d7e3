import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Client } from 'pg';
import type { PersistenceLogger } from '../../src/persistence/sql-executor';

/** A logger that keeps every line, to assert on what was (and was not) logged. */
export function captureLogger(): PersistenceLogger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    log: (m) => lines.push(`log ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  };
}

/** A fresh PostgreSQL schema name per test run, so runs never see each other's rows. */
export function testSchemaName(tag: string): string {
  return `ktrdr_test_${tag}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** Runs `fn` on a connection of its own to the test PostgreSQL at `url`, closed afterwards. */
export async function withPgClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** One administrative statement (CREATE/DROP SCHEMA …) on the test PostgreSQL at `url`. */
export async function pgAdmin(url: string, sql: string): Promise<void> {
  await withPgClient(url, (c) => c.query(sql));
}

/** A loopback port nobody listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}
