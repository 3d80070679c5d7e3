/**
 * Development secrets: outside production, a missing API key or registration token is generated once
 * and kept in the data directory with owner-only permissions, so `npm run dev` is one command and the
 * default is never "open". The backend and the workers started next to it share the data directory,
 * hence the same generated registration token; the CLI reads the development API key from its file.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import nodePath from 'node:path';
import { getDataSettings, getRuntimeSettings, getWorkerSettings } from './config';

/** `{data dir}/dev-api-key`: one line, the plain key (an `operate` key). */
export const DEV_API_KEY_FILE = 'dev-api-key';
/** `{data dir}/dev-worker-token`: one line, the registration token shared by backend and workers. */
export const DEV_WORKER_TOKEN_FILE = 'dev-worker-token';

/** Shortest secret accepted from a generated file (generated ones have 43 characters). */
const MIN_GENERATED_LENGTH = 32;

export function devApiKeyPath(dataDir: string = getDataSettings().dir): string {
  return nodePath.join(dataDir, DEV_API_KEY_FILE);
}

export function devWorkerTokenPath(dataDir: string = getDataSettings().dir): string {
  return nodePath.join(dataDir, DEV_WORKER_TOKEN_FILE);
}

/**
 * SHA-256 of `text` (UTF-8) as 64 lowercase hex characters: the form an API key takes in
 * KTRDR_API_OPERATE_KEY_SHA256 / KTRDR_API_READ_KEY_SHA256 and in a keys file.
 */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** 32 random bytes, base64url (43 characters). */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

export interface SecretFile {
  readonly value: string;
  readonly file: string;
  /** True when this call created the file. */
  readonly created: boolean;
}

function readSecret(file: string): string {
  const st = fs.statSync(file);
  // Owner-only: tighten a file someone made readable by others (it holds a credential).
  if ((st.mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
  const value = fs.readFileSync(file, 'utf8').trim();
  if (value.length < MIN_GENERATED_LENGTH || /\s/.test(value)) {
    throw new Error(
      `${file} does not hold a usable secret (one line of at least ${MIN_GENERATED_LENGTH} characters); delete it to have a new one generated`,
    );
  }
  return value;
}

/**
 * Reads the secret in `file`, or creates it (mode 0600, directory created 0700) with a new random
 * secret. Safe when several processes start at once (the backend and its workers under `npm run dev`):
 * the file appears atomically with its content (written to a temporary file, then hard-linked), and
 * whoever loses the race reads the winner's secret.
 */
export function readOrCreateSecretFile(file: string): SecretFile {
  try {
    return { value: readSecret(file), file, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.mkdirSync(nodePath.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const value = generateSecret();
  fs.writeFileSync(tmp, `${value}\n`, { mode: 0o600, flag: 'wx' });
  try {
    fs.linkSync(tmp, file);
    return { value, file, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { value: readSecret(file), file, created: false };
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

export interface ResolvedRegistrationToken {
  /** undefined only under KTRDR_ENV=production without a token (validation refuses that). */
  readonly token: string | undefined;
  readonly source: 'configured' | 'generated' | 'none';
  /** The development file, when the token comes from it. */
  readonly file?: string;
  readonly created?: boolean;
}

/**
 * KTRDR_WORKER_REGISTRATION_TOKEN when set; otherwise, outside production, the development token shared
 * through `{data dir}/dev-worker-token` (created when missing).
 */
export function resolveRegistrationToken(): ResolvedRegistrationToken {
  const configured = getWorkerSettings().registration_token;
  if (configured) return { token: configured, source: 'configured' };
  if (getRuntimeSettings().environment === 'production')
    return { token: undefined, source: 'none' };
  const secret = readOrCreateSecretFile(devWorkerTokenPath());
  return { token: secret.value, source: 'generated', file: secret.file, created: secret.created };
}
