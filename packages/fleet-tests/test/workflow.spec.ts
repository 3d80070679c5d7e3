/**
 * .github/workflows/deploy-workers.yml: triggers, protection, secrets handling and the rolling deploy;
 * .github/workflows/ci.yml: the multi-host suite runs there as root (it skips otherwise).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { has, REPO } from './support/helpers';

const FILE = path.join(REPO, '.github', 'workflows', 'deploy-workers.yml');
const text = fs.readFileSync(FILE, 'utf8');
// `on` is a YAML 1.1 boolean for some parsers; the yaml library (1.2 core schema) keeps it a key.
const wf = parse(text) as {
  on: Record<string, Record<string, unknown>>;
  permissions: unknown;
  concurrency: { group: string; 'cancel-in-progress': boolean };
  jobs: Record<
    string,
    {
      if: string;
      environment: { name: string };
      permissions: Record<string, string>;
      env: Record<string, string>;
      steps: {
        name?: string;
        uses?: string;
        run?: string;
        env?: Record<string, string>;
        if?: string;
      }[];
    }
  >;
};
const job = wf.jobs.deploy!;

describe('deploy-workers workflow', () => {
  it('runs by hand and after CI succeeded on a push to main', () => {
    expect(Object.keys(wf.on).sort()).toEqual(['workflow_dispatch', 'workflow_run']);
    expect(wf.on.workflow_run).toEqual({
      workflows: ['ci'],
      types: ['completed'],
      branches: ['main'],
    });
    expect(Object.keys(wf.on.workflow_dispatch!.inputs as object).sort()).toEqual([
      'batch',
      'dry_run',
      'ref',
    ]);
    expect(job.if).toContain("github.event.workflow_run.conclusion == 'success'");
    expect(job.if).toContain("github.event.workflow_run.event == 'push'");
    expect(job.if).toContain("github.event_name == 'workflow_dispatch'");
  });

  it('deploys in the protected production environment with least privilege, one rollout at a time', () => {
    expect(job.environment).toEqual({ name: 'production' });
    expect(wf.permissions).toEqual({});
    expect(job.permissions).toEqual({ contents: 'read' });
    expect(wf.concurrency['cancel-in-progress']).toBe(false);
  });

  it('takes the ssh key from secrets through the environment, trusts only known hosts, removes the key', () => {
    const key = job.steps.find((s) => s.name === 'ssh key')!;
    expect(key.env).toEqual({
      SSH_KEY: '${{ secrets.DEPLOY_SSH_KEY }}',
      KNOWN_HOSTS: '${{ secrets.DEPLOY_SSH_KNOWN_HOSTS }}',
    });
    // No secret or input is interpolated into a script.
    for (const s of job.steps)
      expect({ step: s.name, run: /\$\{\{/.test(s.run ?? '') }).toEqual({
        step: s.name,
        run: false,
      });
    const deploy = job.steps.find((s) => s.name === 'rolling deploy')!;
    expect(deploy.env).toEqual({ KTRDR_API_KEY: '${{ secrets.DEPLOY_API_KEY }}' });
    expect(deploy.run).toContain('bash deploy/deploy-to-workers.sh');
    expect(deploy.run).toContain('--env prod');
    expect(deploy.run).toContain('StrictHostKeyChecking=yes');
    expect(deploy.run).toContain('--ssh-key "$HOME/.ssh/ktrdr_deploy"');
    const cleanup = job.steps[job.steps.length - 1]!;
    expect(cleanup).toMatchObject({ if: 'always()', run: 'rm -f "$HOME/.ssh/ktrdr_deploy"' });
  });

  it('builds kinfra and prints the plan before deploying the checked-out commit', () => {
    const runs = job.steps.map((s) => s.run ?? s.uses ?? '');
    const i = (needle: string) => runs.findIndex((r) => r.includes(needle));
    expect(i('turbo run build --filter=@ktrdr/kinfra...')).toBeGreaterThan(
      i('pnpm install --frozen-lockfile'),
    );
    expect(i('fleet plan --env prod')).toBeGreaterThan(i('turbo run build'));
    expect(i('deploy-to-workers.sh')).toBeGreaterThan(i('fleet plan'));
    expect(job.env.DEPLOY_REF).toBe(
      '${{ inputs.ref || github.event.workflow_run.head_sha || github.sha }}',
    );
  });

  (has('actionlint', ['-version']) ? it : it.skip)('passes actionlint', () => {
    const r = spawnSync('actionlint', [FILE], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('ci workflow', () => {
  const ci = parse(fs.readFileSync(path.join(REPO, '.github', 'workflows', 'ci.yml'), 'utf8')) as {
    jobs: Record<string, { steps: { name?: string; run?: string }[] }>;
  };
  const steps = ci.jobs.checks!.steps;
  const at = (needle: string) => steps.findIndex((s) => (s.run ?? '').includes(needle));

  it('runs the multi-host suite as root after the build, where a skip fails', () => {
    const i = at('test/multihost.spec.ts');
    expect(i).toBeGreaterThan(at('pnpm build'));
    const run = steps[i]!.run!;
    expect(run).toMatch(/^sudo -E env "PATH=\$PATH" /);
    expect(run).toContain('KTRDR_TEST_REQUIRE_ALL=true');
    expect(run).toContain('pnpm --filter @ktrdr/fleet-tests exec jest --runInBand');
    expect(steps[at('apt-get install')]!.run).toContain('iproute2');
  });
});
