import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { devApiKeyPath, readOrCreateSecretFile, sha256Hex } from '@ktrdr/config';
import { errorText } from '@ktrdr/contracts';

/** `read`: list and get everything; `operate`: read plus start, cancel, resume, sweeps, (un)drain. */
export type ApiRole = 'read' | 'operate';
export const API_ROLES: readonly ApiRole[] = ['read', 'operate'];

/** One configured key: only the SHA-256 digest of the key is kept (hex, lowercase). */
export interface ApiKeyEntry {
  name: string;
  role: ApiRole;
  sha256: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** A role includes the roles below it. */
export function roleAllows(have: ApiRole, need: ApiRole): boolean {
  return have === 'operate' || need === 'read';
}

/**
 * Parses a keys file: a JSON array (or `{ "keys": [...] }`) of `{ name, role, sha256 }`. Throws an
 * Error naming the file and the entry; never prints a digest.
 */
export function parseKeysFile(file: string, text: string): ApiKeyEntry[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${errorText(err)}`);
  }
  const list = Array.isArray(data)
    ? data
    : data && typeof data === 'object' && Array.isArray((data as { keys?: unknown }).keys)
      ? ((data as { keys: unknown[] }).keys as unknown[])
      : null;
  if (!list) throw new Error(`${file} must hold a JSON array of { name, role, sha256 }`);
  const names = new Set<string>();
  return list.map((raw, i) => {
    const e = (raw ?? {}) as Record<string, unknown>;
    const where = `${file}: entry ${i}`;
    if (typeof e.name !== 'string' || !/^[\w.@:-]{1,64}$/.test(e.name))
      throw new Error(`${where}: name must be 1–64 letters, digits or "._@:-"`);
    if (names.has(e.name)) throw new Error(`${where}: name "${e.name}" is used twice`);
    names.add(e.name);
    if (e.role !== 'read' && e.role !== 'operate')
      throw new Error(`${where} (${e.name}): role must be "read" or "operate"`);
    if (typeof e.sha256 !== 'string' || !HEX64.test(e.sha256.toLowerCase()))
      throw new Error(
        `${where} (${e.name}): sha256 must be the SHA-256 of the key as 64 hex characters`,
      );
    for (const k of Object.keys(e))
      if (!['name', 'role', 'sha256'].includes(k))
        throw new Error(`${where} (${e.name}): unknown field "${k}"`);
    return { name: e.name, role: e.role, sha256: e.sha256.toLowerCase() };
  });
}

export interface ApiKeySources {
  keys_file: string | undefined;
  operate_key_sha256: readonly string[] | undefined;
  read_key_sha256: readonly string[] | undefined;
  environment: 'development' | 'test' | 'production';
  data_dir: string;
}

export interface LoadedApiKeys {
  keys: ApiKeyEntry[];
  /** The development key file, when the keys come from it (no key configured, not production). */
  dev_key_file: string | null;
  dev_key_created: boolean;
}

/**
 * The configured keys (settings and keys file); without any, outside production, the development key
 * `{data dir}/dev-api-key` (an `operate` key, created with mode 0600 when missing). Throws (the backend
 * then exits 1) for a keys file that holds no keys, and in production when no key is configured.
 */
export function loadApiKeys(src: ApiKeySources): LoadedApiKeys {
  const keys: ApiKeyEntry[] = [];
  (src.operate_key_sha256 ?? []).forEach((h, i) =>
    keys.push({ name: `operate-${i + 1}`, role: 'operate', sha256: h.toLowerCase() }),
  );
  (src.read_key_sha256 ?? []).forEach((h, i) =>
    keys.push({ name: `read-${i + 1}`, role: 'read', sha256: h.toLowerCase() }),
  );
  if (src.keys_file) {
    let text: string;
    try {
      text = readFileSync(src.keys_file, 'utf8');
    } catch (err) {
      throw new Error(
        `KTRDR_API_KEYS_FILE: cannot read ${src.keys_file} (${(err as NodeJS.ErrnoException).code ?? errorText(err)})`,
      );
    }
    const fromFile = parseKeysFile(src.keys_file, text);
    if (fromFile.length === 0)
      throw new Error(
        `KTRDR_API_KEYS_FILE: ${src.keys_file} holds no keys; add one (node apps/backend/dist/keygen.js --name NAME --role ROLE) or unset the variable`,
      );
    keys.push(...fromFile);
  }
  if (keys.length > 0) return { keys, dev_key_file: null, dev_key_created: false };
  if (src.environment === 'production')
    throw new Error(
      'KTRDR_ENV=production needs at least one API key: set KTRDR_API_OPERATE_KEY_SHA256, KTRDR_API_READ_KEY_SHA256 or KTRDR_API_KEYS_FILE (see docs/security.md)',
    );
  const file = devApiKeyPath(src.data_dir);
  let secret;
  try {
    secret = readOrCreateSecretFile(file);
  } catch (err) {
    throw new Error(
      `no API key is configured and the development key ${file} cannot be used (${errorText(err)}); configure KTRDR_API_OPERATE_KEY_SHA256 or KTRDR_API_KEYS_FILE, or make the data directory writable`,
    );
  }
  return {
    keys: [{ name: 'development', role: 'operate', sha256: sha256Hex(secret.value) }],
    dev_key_file: file,
    dev_key_created: secret.created,
  };
}

/** Matches presented keys against the configured digests, in constant time per entry. */
export class ApiKeyStore {
  private readonly entries: { name: string; role: ApiRole; digest: Buffer }[];

  constructor(keys: readonly ApiKeyEntry[]) {
    this.entries = keys.map((k) => ({
      name: k.name,
      role: k.role,
      digest: Buffer.from(k.sha256, 'hex'),
    }));
  }

  get size(): number {
    return this.entries.length;
  }

  /** The entry of `key`, or null. Every entry is compared (no early exit on a match). */
  match(key: string): { name: string; role: ApiRole } | null {
    const digest = createHash('sha256').update(key, 'utf8').digest();
    let found: { name: string; role: ApiRole } | null = null;
    for (const e of this.entries) {
      if (timingSafeEqual(digest, e.digest) && !found) found = { name: e.name, role: e.role };
    }
    return found;
  }
}
