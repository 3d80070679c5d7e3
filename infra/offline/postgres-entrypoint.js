#!/usr/local/bin/node
// Entrypoint of the offline PostgreSQL stand-in image (infra/scripts/make-offline-images.sh): the
// subset of the official postgres image's behaviour that infra/compose uses, without a shell.
// POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB create the role and database on first start.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const env = process.env;
const BIN = env.PG_BIN || '/usr/lib/postgresql/15/bin';
const PGDATA = env.PGDATA || '/var/lib/postgresql/data';
const SOCKET_DIR = '/var/run/postgresql';
const USER = env.POSTGRES_USER || 'postgres';
const DB = env.POSTGRES_DB || USER;
const UID = 999;
const GID = 999;
const log = (m) => console.log(`[postgres-standin] ${m}`);

function run(cmd, args) {
  const r = spawnSync(path.join(BIN, cmd), args, { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`[postgres-standin] ${cmd} failed (${r.status ?? r.signal})`);
    process.exit(1);
  }
}

if (process.getuid() === 0) {
  for (const dir of [PGDATA, SOCKET_DIR]) {
    fs.mkdirSync(dir, { recursive: true });
    fs.chownSync(dir, UID, GID);
  }
  fs.chmodSync(PGDATA, 0o700);
  process.setgid(GID);
  process.setuid(UID);
}

if (!fs.existsSync(path.join(PGDATA, 'PG_VERSION'))) {
  if (!env.POSTGRES_PASSWORD) {
    console.error('[postgres-standin] POSTGRES_PASSWORD is required on first start');
    process.exit(1);
  }
  log(`initialising ${PGDATA} (user ${USER}, database ${DB})`);
  const pw = path.join('/tmp', `pw-${process.pid}`);
  fs.writeFileSync(pw, env.POSTGRES_PASSWORD, { mode: 0o600 });
  run('initdb', [
    '-D',
    PGDATA,
    '-U',
    USER,
    `--pwfile=${pw}`,
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    '--encoding=UTF8',
    '--locale=C',
    '--no-instructions',
  ]);
  fs.rmSync(pw);
  fs.appendFileSync(path.join(PGDATA, 'pg_hba.conf'), '\nhost all all all scram-sha-256\n');
  run('pg_ctl', ['-D', PGDATA, '-o', `-c listen_addresses='' -k ${SOCKET_DIR}`, '-w', 'start']);
  if (DB !== 'postgres') run('createdb', ['-h', SOCKET_DIR, '-U', USER, '-O', USER, DB]);
  run('pg_ctl', ['-D', PGDATA, '-m', 'fast', '-w', 'stop']);
}

log('starting postgres');
const pg = spawn(
  path.join(BIN, 'postgres'),
  ['-D', PGDATA, '-c', 'listen_addresses=*', '-k', SOCKET_DIR],
  {
    stdio: 'inherit',
  },
);
for (const sig of ['SIGTERM', 'SIGINT', 'SIGQUIT']) process.on(sig, () => pg.kill(sig));
pg.on('exit', (code, signal) => process.exit(code ?? (signal ? 0 : 1)));
