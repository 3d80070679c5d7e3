/** Renders docs/configuration.md and .env.example from the declarations (never edited by hand). */
import { describeSettings } from './config';
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
  return out.join('\n');
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
