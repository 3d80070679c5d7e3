/** Renders docs/configuration.md and .env.example from the declarations (never edited by hand). */
import { describeSettings } from './config';
import { FLEET_FILE_KEYS, type FleetKey } from './fleet';
import { constraintText } from './loader';
import { envNameOf, type AnyField } from './schema';
import { ALL_SETTINGS, COMPONENT_SETTINGS } from './settings';

const GENERATED_NOTE =
  'Generated from packages/config/src/settings.ts by `pnpm docs:generate`; do not edit by hand (`npm test` fails when it is stale).';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function usedBy(clsName: string): string {
  const users = (['backend', 'worker', 'cli'] as const).filter((c) =>
    COMPONENT_SETTINGS[c].some((cls) => cls.name === clsName),
  );
  return users.length > 0 ? users.join(', ') : 'tools and tests';
}

export function renderConfigurationMarkdown(): string {
  const out: string[] = [
    '# Configuration',
    '',
    `<!-- ${GENERATED_NOTE} -->`,
    '',
    'Every setting is an environment variable. Precedence, highest first: explicit overrides in code, the',
    'variable, its deprecated old names (in the order listed), a `.env.local` file in the working directory,',
    'the default. Deprecated names still work and log one warning each; when an old and a new name are both',
    'set to different values the new one wins, with a warning. Unknown `KTRDR_*` variables get a warning with',
    'a did-you-mean. Each service validates all of its settings at start and exits with code 1, listing every',
    'problem by variable name, when one is invalid; secret values never appear in a message.',
    '',
    '`KTRDR_ENV=production` refuses insecure defaults (marked ⚠ below) unless they are set explicitly; other',
    'environments warn about them unless `KTRDR_ACKNOWLEDGE_INSECURE_DEFAULTS=true`.',
    '',
    "In code: `import { getWorkerSettings } from '@ktrdr/config'` (cached; `clearSettingsCache()` resets).",
    '',
  ];
  for (const cls of ALL_SETTINGS) {
    out.push(`## ${cls.name}`, '');
    out.push(`${cls.description} Getter: \`${cls.getter}()\`. Used by: ${usedBy(cls.name)}.`, '');
    out.push('| Variable | Type | Default | Constraint | Description | Deprecated names |');
    out.push('| --- | --- | --- | --- | --- | --- |');
    for (const d of describeSettings(cls)) {
      const flags = `${d.secret ? ' 🔒 secret.' : ''}${d.insecureDefault ? ' ⚠ insecure default.' : ''}`;
      out.push(
        `| \`${d.env}\` | ${d.type} | ${d.default === undefined ? '—' : `\`${cell(d.default)}\``} | ${cell(d.constraints ?? '—')} | ${cell(d.description)}${flags} | ${d.deprecated.length > 0 ? d.deprecated.map((n) => `\`${n}\``).join(', ') : '—'} |`,
      );
    }
    out.push('');
  }
  out.push(...renderFleetSection());
  return out.join('\n');
}

function fleetConstraint(k: FleetKey): string {
  if (k.setting) return constraintText(k.setting.cls.fields[k.setting.field] as AnyField);
  switch (k.kind) {
    case 'integer':
      return `an integer between ${k.min} and ${k.max}`;
    case 'enum':
      return `one of ${(k.choices ?? []).join(', ')}`;
    case 'cidr':
      return 'IPv4 CIDR, prefix 8–30';
    case 'ipv4':
      return 'IPv4 address';
    case 'ip_range':
      return 'IPv4 range `first-last`';
    default:
      return 'a non-empty string';
  }
}

function fleetDefault(k: FleetKey): string {
  if (k.required) return '—';
  if (k.setting) {
    const f = k.setting.cls.fields[k.setting.field] as AnyField;
    return f.default === undefined || typeof f.default === 'function'
      ? '—'
      : `\`${String(f.default)}\``;
  }
  return k.default === undefined ? '—' : `\`${String(k.default)}\``;
}

/** The keys of config/workers.<env>.yaml, from the declarations in src/fleet.ts. */
function renderFleetSection(): string[] {
  const out = [
    '## Fleet environment files',
    '',
    '`config/workers.dev.yaml` (`KTRDR_ENV=development`, alias `dev`) and `config/workers.prod.yaml`',
    '(`KTRDR_ENV=production`, alias `prod`) describe a fleet: the backend URL, the worker health checks and',
    'the deployment (`docker-compose` with a scale per worker type, or `proxmox-lxc` with a template, a network',
    'and per-type containers). `KTRDR_FLEET_FILE` picks another file, `KTRDR_FLEET_DIR` another directory;',
    '`KTRDR_ENV=test` reads none. The keys that stand for a setting are a source of that setting below its',
    'variable (precedence: variable, deprecated names, `.env.local`, the file, the default), so a variable',
    'overrides the file. Services validate the file at start with their other settings; each problem names',
    'the YAML path, the file and the line, e.g.',
    '`health_check.interval (config/workers.prod.yaml, line 12): must be a number greater than 0 (got -1)`.',
    'Unknown keys are refused (with a did-you-mean). `kinfra fleet plan --env prod` prints the resulting',
    'provisioning plan; the deploy scripts read the file only through it. In code: `loadFleetConfig({ environment })`',
    'or `getFleetConfig()`.',
    '',
    '`<type>` is `backtesting` or `training`. Keys marked with a deployment type are allowed only with it.',
    '',
    '| Key | Required | Default | Constraint | Overridden by | Description |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const k of FLEET_FILE_KEYS) {
    const required = k.required
      ? k.when
        ? `with ${k.when}`
        : 'yes'
      : k.when
        ? `no (${k.when})`
        : 'no';
    const variable = k.setting ? `\`${envNameOf(k.setting.cls, k.setting.field)}\`` : '—';
    out.push(
      `| \`${k.path}\` | ${required} | ${fleetDefault(k)} | ${cell(fleetConstraint(k))} | ${variable} | ${cell(k.description)} |`,
    );
  }
  out.push('');
  return out;
}

export function renderEnvExample(): string {
  const out: string[] = [
    `# ${GENERATED_NOTE}`,
    '# Every KTRDR setting with its default; uncomment to change. Secrets are left empty.',
    '',
  ];
  for (const cls of ALL_SETTINGS) {
    out.push(`# ── ${cls.name}: ${cls.description}`);
    for (const d of describeSettings(cls)) {
      out.push(`# ${d.description}${d.constraints ? ` (${d.constraints})` : ''}`);
      const value = d.secret ? '' : (d.default ?? '');
      out.push(`# ${d.env}=${value}`);
    }
    out.push('');
  }
  return out.join('\n');
}
