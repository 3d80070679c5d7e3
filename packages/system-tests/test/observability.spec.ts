/**
 * Observability of the real system: the BUILT backend and workers as processes with tracing on,
 * exporting OTLP/HTTP (JSON) to an in-process receiver on 127.0.0.1.
 *
 * Traces: one backtest and one training whose worker is stopped with SIGTERM mid-run (continued on
 * another worker). The span tree crosses processes through W3C trace context: the submit request →
 * attempt → queued / worker selection / dispatch (backend) → accept → job → phases (worker) → the
 * worker's reports → the backend's handling of them, all in one trace per attempt; the second
 * attempt is a new trace linked to the first. Log lines (JSON) carry the trace and span ids.
 *
 * Metrics: a real scrape of each service passes `promtool check metrics`, workers export the standard
 * process_/nodejs_ metrics under their usual names, and every metric the Grafana dashboard and the
 * Prometheus alert rules query is one the services really export.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ATTR, SPAN } from '@ktrdr/telemetry';
import { OtlpReceiver, type ReceivedSpan } from '@ktrdr/telemetry/testing';
import { LocalStack, builtMains, isRunning } from '@ktrdr/test-support';

const REPO = join(__dirname, '..', '..', '..');
const HAS_PROMTOOL = spawnSync('promtool', ['--version']).status === 0;
const TERMINAL = ['completed', 'failed', 'cancelled'];
/** OTLP span kinds. */
const SERVER = 2;
const CLIENT = 3;

const receiver = new OtlpReceiver();
const stack = new LocalStack('ktrdr-obs-', builtMains(require.resolve));

const BACKTEST = {
  symbol: 'SYNTH-OBS',
  timeframe: '1h',
  start_date: '2024-01-01',
  end_date: '2024-04-01',
  strategy: { type: 'sma_crossover', fast_period: 10, slow_period: 30 },
};

/** Slow enough to be stopped mid-run (about 13k bars, two hidden layers, no early stop). */
const TRAINING = {
  symbol: 'SYNTH-OBS',
  timeframe: '5m',
  start_date: '2024-01-01',
  end_date: '2024-02-15',
  features: ['returns_1', 'sma_ratio_10', 'rsi_14'],
  model: { hidden_layers: [16, 8] },
  batch_size: 32,
  early_stopping: { patience: 1000 },
  epochs: 60,
  seed: 5,
};

interface Operation {
  operation_id: string;
  status: string;
  attempt: number;
  worker_id: string | null;
  progress: { items_processed?: number };
}

async function until(
  id: string,
  pred: (op: Operation) => boolean,
  what: string,
  timeoutMs = 90_000,
): Promise<Operation> {
  return stack.waitFor(
    `${id} ${what}`,
    async () => {
      const res = await stack.call('GET', `/operations/${id}`);
      const op = res.body?.data as Operation | undefined;
      return op && pred(op) ? op : undefined;
    },
    timeoutMs,
  );
}

const byId = (): Map<string, ReceivedSpan> => new Map(receiver.spans.map((s) => [s.spanId, s]));

/** The span and its ancestors, nearest first (as far as they were received). */
function ancestry(span: ReceivedSpan): ReceivedSpan[] {
  const index = byId();
  const out = [span];
  let cur = span;
  while (cur.parentSpanId && index.has(cur.parentSpanId)) {
    cur = index.get(cur.parentSpanId)!;
    out.push(cur);
  }
  return out;
}

function only(
  name: string,
  attrs: Record<string, string | number>,
  service?: string,
): ReceivedSpan {
  const found = receiver.find(name, attrs).filter((s) => !service || s.service === service);
  if (found.length !== 1) {
    throw new Error(
      `${found.length} spans ${name} ${JSON.stringify(attrs)}${service ? ` in ${service}` : ''}`,
    );
  }
  return found[0];
}

function childrenOf(span: ReceivedSpan): ReceivedSpan[] {
  return receiver.spans.filter((s) => s.parentSpanId === span.spanId);
}

let backtestId = '';
let trainingId = '';
let firstTrainer = '';
let secondTrainer = '';

beforeAll(async () => {
  await receiver.start();
  await stack.configure({
    KTRDR_LOG_JSON: 'true',
    KTRDR_OTEL_ENABLED: 'true',
    KTRDR_OTEL_ENDPOINT: receiver.endpoint,
    KTRDR_WORKER_HEALTH_CHECK_TIMEOUT: '1',
    KTRDR_WORKER_HEALTH_CHECK_FAILURES: '2',
    KTRDR_WORKER_PROGRESS_INTERVAL_MS: '100',
    KTRDR_WORKER_SHUTDOWN_GRACE_SECONDS: '5',
    KTRDR_ORPHAN_TIMEOUT_SECONDS: '2',
    KTRDR_ORPHAN_CHECK_INTERVAL_SECONDS: '0.5',
    KTRDR_CHECKPOINT_EPOCH_INTERVAL: '1',
  });
  await stack.startBackend();
  await stack.startWorker('backtest', 'bt-obs-1');
  await stack.startWorker('training', 'tr-obs-1');
  await stack.registered('bt-obs-1');
  await stack.registered('tr-obs-1');
}, 120_000);

afterAll(async () => {
  await stack.stop();
  await receiver.stop();
});

describe('traces across the backend and the workers', () => {
  it('a backtest: one trace from the submit request to the worker phases and back to the completion report', async () => {
    const res = await stack.call('POST', '/backtests/start', BACKTEST);
    expect(res.status).toBe(202);
    backtestId = res.body.operation_id as string;
    const op = await until(backtestId, (o) => TERMINAL.includes(o.status), 'finished');
    expect(op.status).toBe('completed');
    const id = { [ATTR.OPERATION_ID]: backtestId };
    await receiver.waitFor(
      'the backtest spans of both processes (backend completion handled)',
      () =>
        receiver.find(SPAN.ATTEMPT, id).length === 1 &&
        receiver.find(SPAN.COMPLETE, id).length === 1 &&
        receiver.find('ktrdr.job.serialise_result', id).length === 1,
      20_000,
    );

    const submit = only(SPAN.SUBMIT, id, 'backend');
    const attempt = only(SPAN.ATTEMPT, id, 'backend');
    const select = only(SPAN.SELECT, id, 'backend');
    const dispatch = only(SPAN.DISPATCH, id, 'backend');
    const queued = only(SPAN.QUEUED, id, 'backend');
    const accept = only(SPAN.WORKER_ACCEPT, id, 'backtest-worker');
    const job = only(SPAN.JOB, id, 'backtest-worker');
    const reportComplete = only(SPAN.REPORT_COMPLETE, id, 'backtest-worker');
    const complete = only(SPAN.COMPLETE, id, 'backend');
    const trace = submit.traceId;

    // One trace id across both processes.
    for (const s of [attempt, select, dispatch, queued, accept, job, reportComplete, complete]) {
      expect({ span: s.name, trace: s.traceId }).toEqual({ span: s.name, trace });
    }
    // The submit span sits under the backend's HTTP server span of the start request.
    const submitServer = ancestry(submit).find((s) => s.kind === SERVER)!;
    expect(submitServer.service).toBe('backend');
    expect(JSON.stringify(submitServer.attributes)).toContain('/api/v1/backtests/start');
    expect(attempt.parentSpanId).toBe(submit.spanId);
    for (const s of [queued, select, dispatch]) expect(s.parentSpanId).toBe(attempt.spanId);
    expect(select.attributes).toMatchObject({
      [ATTR.SELECTION_CANDIDATES]: 1,
      [ATTR.SELECTION_CANDIDATE_IDS]: ['bt-obs-1'],
      [ATTR.SELECTION_CHOSEN]: 'bt-obs-1',
      [ATTR.SELECTION_REASON]: 'least_recently_selected',
    });
    expect(dispatch.attributes).toMatchObject({
      [ATTR.WORKER_ID]: 'bt-obs-1',
      [ATTR.DISPATCH_OUTCOME]: 'accepted',
      [ATTR.ATTEMPT]: 1,
    });

    // Backend dispatch → (fetch CLIENT span) → worker HTTP SERVER span → accept → job → phases.
    // (Between the server span and accept: the express and nest handler spans.)
    const acceptUp = ancestry(accept);
    const serverAt = acceptUp.findIndex((s) => s.kind === SERVER);
    const workerServer = acceptUp[serverAt];
    const backendClient = acceptUp[serverAt + 1];
    expect(acceptUp.slice(1, serverAt).map((s) => s.service)).toEqual(
      acceptUp.slice(1, serverAt).map(() => 'backtest-worker'),
    );
    expect(workerServer).toMatchObject({ kind: SERVER, service: 'backtest-worker' });
    expect(backendClient).toMatchObject({ kind: CLIENT, service: 'backend' });
    expect(backendClient.parentSpanId).toBe(dispatch.spanId);
    expect(accept.attributes).toMatchObject({
      [ATTR.OPERATION_ID]: backtestId,
      [ATTR.ATTEMPT]: 1,
      [ATTR.WORKER_ID]: 'bt-obs-1',
      [ATTR.WORKER_TYPE]: 'backtesting',
    });
    expect(accept.resource).toMatchObject({
      'service.name': 'backtest-worker',
      'service.version': '0.2.0',
      [ATTR.WORKER_ID]: 'bt-obs-1',
      [ATTR.WORKER_TYPE]: 'backtesting',
    });
    expect(submit.resource).toMatchObject({
      'service.name': 'backend',
      'service.version': '0.2.0',
    });
    expect(job.parentSpanId).toBe(accept.spanId);
    expect(job.attributes[ATTR.STATUS]).toBe('completed');
    const phases = childrenOf(job)
      .filter((s) => s.name.startsWith(SPAN.PHASE_PREFIX))
      .sort((a, b) => Number(a.startTimeUnixNano - b.startTimeUnixNano))
      .map((s) => s.name);
    // A backtest's trades and equity curve go to the backend as artifacts after the result is built.
    expect(phases).toEqual([
      'ktrdr.job.load_data',
      'ktrdr.job.run',
      'ktrdr.job.serialise_result',
      'ktrdr.job.upload_artifacts',
    ]);
    const run = only('ktrdr.job.run', id);
    expect(run.endTimeUnixNano).toBeGreaterThan(run.startTimeUnixNano);
    expect(
      Number(only('ktrdr.job.serialise_result', id).attributes[ATTR.RESULT_BYTES]),
    ).toBeGreaterThan(100);

    // Worker report → (CLIENT) → backend SERVER span → complete handling, same trace.
    expect(reportComplete.parentSpanId).toBe(job.spanId);
    const completeUp = ancestry(complete);
    expect(completeUp.map((s) => s.spanId)).toContain(reportComplete.spanId);
    expect(completeUp.find((s) => s.kind === SERVER)?.service).toBe('backend');
    expect(complete.attributes[ATTR.STATUS]).toBe('completed');
    const progress = receiver.find(SPAN.PROGRESS, id);
    expect(progress.length).toBeGreaterThanOrEqual(1);
    for (const p of progress) {
      expect(ancestry(p).some((s) => s.name === SPAN.JOB && s.spanId === job.spanId)).toBe(true);
    }
    // The attempt ends with the operation.
    await receiver.waitFor('attempt ended', () =>
      receiver.find(SPAN.ATTEMPT, id).some((s) => s.attributes[ATTR.STATUS] === 'completed'),
    );
  });

  it('log lines carry trace_id and span_id while a span is active', () => {
    const trace = only(SPAN.SUBMIT, { [ATTR.OPERATION_ID]: backtestId }).traceId;
    const accept = only(SPAN.WORKER_ACCEPT, { [ATTR.OPERATION_ID]: backtestId });
    const started = stack
      .jsonLogs('bt-obs-1')
      .find((l) => String(l.message).startsWith(`operation ${backtestId} started`));
    expect(started).toMatchObject({ trace_id: trace, span_id: accept.spanId });
    const dispatched = stack
      .jsonLogs('backend')
      .find((l) => String(l.message).startsWith(`Dispatched ${backtestId}`));
    expect(dispatched).toMatchObject({ trace_id: trace });
    // Outside any span (start-up) there are none.
    const listening = stack
      .jsonLogs('backend')
      .find((l) => String(l.message).includes('listening on'));
    expect(listening).toBeDefined();
    expect(listening).not.toHaveProperty('trace_id');
  });

  it('a training stopped by SIGTERM continues elsewhere: attempt 2 is a new trace linked to the first, with per-epoch events', async () => {
    await stack.startWorker('training', 'tr-obs-2');
    await stack.registered('tr-obs-2');
    const res = await stack.call('POST', '/trainings/start', TRAINING);
    expect(res.status).toBe(202);
    trainingId = res.body.operation_id as string;
    const running = await until(
      trainingId,
      (o) => o.status === 'running' && (o.progress.items_processed ?? 0) >= 2,
      'progressing',
    );
    firstTrainer = running.worker_id!;
    secondTrainer = firstTrainer === 'tr-obs-1' ? 'tr-obs-2' : 'tr-obs-1';
    const stopped = stack.proc(firstTrainer);
    stopped.child.kill('SIGTERM');
    expect(await stopped.exited).toEqual({ code: 0, signal: null });
    const done = await until(trainingId, (o) => TERMINAL.includes(o.status), 'finished', 120_000);
    expect(done).toMatchObject({ status: 'completed', attempt: 2, worker_id: secondTrainer });

    const id = { [ATTR.OPERATION_ID]: trainingId };
    await receiver.waitFor(
      'both attempts of the training, from the backend and both workers',
      () =>
        receiver.find(SPAN.ATTEMPT, id).length === 2 &&
        receiver.find(SPAN.JOB, id).length === 2 &&
        receiver.find(SPAN.COMPLETE, id).length === 2,
      20_000,
    );
    const a1 = only(SPAN.ATTEMPT, { ...id, [ATTR.ATTEMPT]: 1 }, 'backend');
    const a2 = only(SPAN.ATTEMPT, { ...id, [ATTR.ATTEMPT]: 2 }, 'backend');
    expect(a1.attributes).toMatchObject({
      [ATTR.STATUS]: 'requeued',
      'ktrdr.requeue.reason': 'worker_shutdown',
    });
    expect(a2.traceId).not.toBe(a1.traceId);
    expect(a2.parentSpanId).toBeNull();
    expect(a2.links).toEqual([expect.objectContaining({ traceId: a1.traceId, spanId: a1.spanId })]);
    expect(a2.attributes).toMatchObject({
      [ATTR.REDISPATCH_REASON]: 'worker_shutdown',
      [ATTR.STATUS]: 'completed',
    });

    const jobs = receiver.find(SPAN.JOB, id);
    const j1 = jobs.find((j) => j.traceId === a1.traceId)!;
    const j2 = jobs.find((j) => j.traceId === a2.traceId)!;
    expect(j1.resource[ATTR.WORKER_ID]).toBe(firstTrainer);
    expect(j2.resource[ATTR.WORKER_ID]).toBe(secondTrainer);
    expect(j1.resource['service.name']).toBe('training-worker');
    // Attempt 1 on the stopped worker: aborted by the shutdown, reported failed with the reason.
    expect(j1.attributes).toMatchObject({
      [ATTR.STATUS]: 'failed',
      'ktrdr.abort.reason': 'shutdown',
    });
    expect(String(j1.attributes[ATTR.ERROR_MESSAGE])).toMatch(/SIGTERM/);
    expect(ancestry(j2).some((s) => s.spanId === a2.spanId)).toBe(true);
    expect(ancestry(j1).some((s) => s.spanId === a1.spanId)).toBe(true);
    // Per-epoch events on the run phase of both attempts; attempt 2 resumed from the checkpoint.
    for (const j of [j1, j2]) {
      const run = childrenOf(j).find((s) => s.name === 'ktrdr.job.run')!;
      const epochs = run.events.filter((e) => e.name === 'epoch');
      expect(epochs.length).toBeGreaterThanOrEqual(1);
      expect(epochs[0].attributes).toMatchObject({
        epoch: expect.any(Number),
        train_loss: expect.any(Number),
      });
    }
    const run2 = childrenOf(j2).find((s) => s.name === 'ktrdr.job.run')!;
    expect(Number(run2.events[0].attributes.epoch)).toBeGreaterThan(1);
    expect(j2.attributes[ATTR.RESUME_UNIT]).toBeGreaterThanOrEqual(1);
    // The shutdown's completion report reached the backend in attempt 1's trace.
    const completes = receiver.find(SPAN.COMPLETE, id);
    expect(completes.map((c) => c.traceId).sort()).toEqual([a1.traceId, a2.traceId].sort());
  });

  it('probes, scrapes and heartbeats start no traces', () => {
    const noisy = receiver.spans.filter((s) =>
      /heartbeat|\/health|\/metrics"/.test(JSON.stringify(s.attributes)),
    );
    expect(noisy.map((s) => `${s.service} ${s.name} ${JSON.stringify(s.attributes)}`)).toEqual([]);
    expect(receiver.rejected).toEqual([]);
  });
});

/** `# TYPE` families of a Prometheus text exposition, with the sample names each one produces. */
function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m;
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
  }
  return names;
}

/** Metric names an expression uses (identifiers not followed by `(`, minus PromQL keywords). */
function metricNames(expr: string): string[] {
  const keywords = new Set([
    'by',
    'without',
    'on',
    'ignoring',
    'group_left',
    'group_right',
    'bool',
    'and',
    'or',
    'unless',
    'offset',
    'le',
    'inf',
    'nan',
  ]);
  const cleaned = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '') // label lists
    .replace(/\$\{?\w+\}?/g, ''); // Grafana variables
  const out = new Set<string>();
  for (const m of cleaned.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)) {
    const name = m[1];
    if (keywords.has(name.toLowerCase()) || /^\d/.test(name)) continue;
    out.add(name);
  }
  return [...out];
}

/** Prometheus' own series, present for every scrape target or rule evaluation. */
const PROMETHEUS_BUILTIN = new Set(['up', 'ALERTS', 'ALERTS_FOR_STATE', 'scrape_duration_seconds']);

describe('metrics of the running services', () => {
  const scrapes = new Map<string, string>();

  beforeAll(async () => {
    for (const p of stack.procs.filter(isRunning)) {
      const res = await fetch(`http://127.0.0.1:${p.port}/metrics`);
      expect(res.status).toBe(200);
      scrapes.set(p.name, await res.text());
    }
    expect([...scrapes.keys()].sort()).toEqual(['backend', 'bt-obs-1', secondTrainer].sort());
  });

  (HAS_PROMTOOL ? it : it.skip)('every service passes `promtool check metrics`', () => {
    for (const [name, text] of scrapes) {
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect({ name, status: check.status, output: `${check.stdout}${check.stderr}` }).toEqual({
        name,
        status: 0,
        output: '',
      });
    }
  });

  it('workers export process_* and nodejs_* under their usual names, labelled with worker id and type', () => {
    for (const name of ['bt-obs-1', secondTrainer]) {
      const text = scrapes.get(name)!;
      const names = exportedNames(text);
      for (const m of [
        'process_cpu_seconds_total',
        'process_resident_memory_bytes',
        'nodejs_eventloop_lag_seconds',
        'nodejs_heap_size_used_bytes',
      ]) {
        expect({ name, metric: m, exported: names.has(m) }).toEqual({
          name,
          metric: m,
          exported: true,
        });
      }
      expect([...names].filter((n) => /^ktrdr_worker_(process|nodejs)_/.test(n))).toEqual([]);
      const type = name.startsWith('bt') ? 'backtesting' : 'training';
      expect(text).toMatch(
        new RegExp(
          `^process_resident_memory_bytes\\{worker_id="${name}",worker_type="${type}"\\} \\d+`,
          'm',
        ),
      );
    }
  });

  it('the backend counts outcomes, dispatch tries and re-dispatches', () => {
    const text = scrapes.get('backend')!;
    expect(text).toMatch(
      /^ktrdr_operations_completed_total\{operation_type="backtesting",status="completed"\} 1$/m,
    );
    expect(text).toMatch(
      /^ktrdr_operations_completed_total\{operation_type="training",status="completed"\} 1$/m,
    );
    expect(text).toMatch(
      /^ktrdr_dispatch_tries_total\{operation_type="training",outcome="accepted"\} 2$/m,
    );
    expect(text).toMatch(
      /^ktrdr_operations_requeued_total\{operation_type="training",reason="worker_shutdown"\} 1$/m,
    );
    expect(text).toMatch(/^ktrdr_queue_wait_seconds_count\{operation_type="backtesting"\} 1$/m);
  });

  it('every metric the Grafana dashboards and the alert rules query is exported by a service', () => {
    const exported = new Set<string>();
    for (const text of scrapes.values()) for (const n of exportedNames(text)) exported.add(n);
    const queries: { where: string; expr: string }[] = [];
    const dashDir = join(REPO, 'infra', 'grafana', 'dashboards');
    for (const file of readdirSync(dashDir).filter((f) => f.endsWith('.json'))) {
      const dash = JSON.parse(readFileSync(join(dashDir, file), 'utf8')) as {
        panels: { title: string; targets?: { expr?: string }[]; panels?: unknown[] }[];
        templating?: { list: { name: string; query?: string | { query?: string } }[] };
      };
      for (const p of dash.panels) {
        for (const t of p.targets ?? [])
          if (t.expr) queries.push({ where: `${file}: ${p.title}`, expr: t.expr });
      }
      for (const v of dash.templating?.list ?? []) {
        const q = typeof v.query === 'string' ? v.query : v.query?.query;
        const inner = q ? /label_values\(([^,)]+)/.exec(q)?.[1] : undefined;
        if (inner) queries.push({ where: `${file}: variable ${v.name}`, expr: inner });
      }
    }
    const rules = parseYaml(
      readFileSync(join(REPO, 'infra', 'prometheus', 'alerts.yml'), 'utf8'),
    ) as { groups: { rules: { alert?: string; record?: string; expr: string }[] }[] };
    const recorded = new Set(
      rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.record ? [r.record] : []))),
    );
    for (const g of rules.groups) {
      for (const r of g.rules)
        queries.push({ where: `alerts.yml: ${r.alert ?? r.record}`, expr: r.expr });
    }
    expect(queries.length).toBeGreaterThan(15);
    const missing = queries.flatMap(({ where, expr }) =>
      metricNames(expr)
        .filter((n) => !exported.has(n) && !PROMETHEUS_BUILTIN.has(n) && !recorded.has(n))
        .map((n) => `${where}: ${n}`),
    );
    expect(missing).toEqual([]);
  });
});
