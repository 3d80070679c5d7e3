/**
 * Makes an API key: `node dist/keygen.js [--name NAME] [--role read|operate]`. Prints the key (for the
 * client, shown once) and what the backend is configured with (its SHA-256 digest only).
 */
import { generateSecret, sha256Hex } from '@ktrdr/config';
import type { ApiRole } from './auth/api-keys';

export function makeKey(name: string, role: ApiRole): { key: string; lines: string[] } {
  const key = generateSecret();
  const sha256 = sha256Hex(key);
  const variable =
    role === 'operate' ? 'KTRDR_API_OPERATE_KEY_SHA256' : 'KTRDR_API_READ_KEY_SHA256';
  return {
    key,
    lines: [
      `API key (${role}) for the client, shown once; clients send "Authorization: Bearer <key>":`,
      `  ${key}`,
      'Configure the backend with its digest, either as a setting (comma-separated for several):',
      `  ${variable}=${sha256}`,
      'or as an entry of the KTRDR_API_KEYS_FILE JSON array:',
      `  ${JSON.stringify({ name, role, sha256 })}`,
    ],
  };
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const role = (arg(argv, '--role') ?? 'operate') as ApiRole;
  const name = arg(argv, '--name') ?? `${role}-key`;
  if ((role !== 'read' && role !== 'operate') || !/^[\w.@:-]{1,64}$/.test(name)) {
    console.error('usage: node dist/keygen.js [--name NAME] [--role read|operate]');
    process.exit(2);
  }
  console.log(makeKey(name, role).lines.join('\n'));
}
