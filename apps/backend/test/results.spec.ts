import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { authed } from './support/test-app';
import {
  ARTIFACT_CHUNK_MEDIA_TYPE,
  ARTIFACT_COLUMNS,
  LEASE_TOKEN_HEADER,
  MAX_ARTIFACT_CHUNK_BYTES,
  OperationStatus,
  OperationType,
  encodeArtifactRows,
} from '@ktrdr/contracts';
import { memoryStore } from './support/memory-store';
import type { OperationsRepository } from '../src/persistence/operations.repository';
import { SQLITE_MEMORY_DIR } from '../src/persistence/sqlite-executor';
import { SqliteOperationsRepository } from '../src/persistence/sqlite-operations.repository';
import { BACKTEST_PARAMS, TRAINING_PARAMS } from './support/harness';
import { testSettings } from './support/settings';
import { createTestApp, type TestApp } from './support/test-app';

type Server = Parameters<typeof request>[0];

const T0 = Date.UTC(2024, 0, 1);
const HOUR = 3_600_000;
const iso = (ms: number): string => new Date(ms).toISOString();

/** Trade k: entered at hour 2k, exited at hour 2k+1, all fields derived from k. */
function tradeRow(k: number): number[] {
  return [
    T0 + 2 * k * HOUR,
    T0 + (2 * k + 1) * HOUR,
    100 + k / 1000,
    101 + k / 1000,
    1.5,
    k % 7 === 0 ? -3.25 : 2.5,
    k / 1e6,
    1,
  ];
}

/** `PUT …/artifacts/{kind}/chunks/{index}` with a binary body (the route workers use). */
function putBinary(
  http: Server,
  id: string,
  kind: string,
  index: number | string,
  lease: string | null,
  q: {
    chunk_count: number;
    first_row: number;
    total_rows: number;
    body: Uint8Array;
    columns?: string;
    contentType?: string;
  },
) {
  const columns =
    q.columns ?? (ARTIFACT_COLUMNS as Record<string, readonly string[]>)[kind]?.join(',') ?? '';
  const req = authed(http)
    .put(`/api/v1/operations/${id}/artifacts/${kind}/chunks/${index}`)
    .query({
      chunk_count: q.chunk_count,
      first_row: q.first_row,
      total_rows: q.total_rows,
      columns,
    })
    .set('content-type', q.contentType ?? ARTIFACT_CHUNK_MEDIA_TYPE);
  if (lease !== null) req.set(LEASE_TOKEN_HEADER, lease);
  return req.send(Buffer.from(q.body.buffer, q.body.byteOffset, q.body.byteLength));
}

/** A CSV download, its text whole. */
function getCsv(http: Server, url: string) {
  return authed(http)
    .get(url)
    .buffer(true)
    .parse((res, cb) => {
      let data = '';
      res.on('data', (c: Buffer) => (data += c.toString('utf8')));
      res.on('end', () => cb(null, data));
    })
    .expect(200);
}

let seq = 0;
async function runningBacktest(repo: OperationsRepository, type = OperationType.BACKTESTING) {
  const id = `op_${type}_20260101_${(++seq).toString(16).padStart(12, '0')}`;
  await repo.create({
    operation_id: id,
    operation_type: type,
    params: type === OperationType.BACKTESTING ? BACKTEST_PARAMS : TRAINING_PARAMS,
  });
  const lease = `lease-${id}`;
  await repo.update(id, {
    status: OperationStatus.RUNNING,
    lease_token: lease,
    attempt: 1,
    worker_id: 'bw1',
    started_at: new Date(),
  });
  return { id, lease };
}

describe('results on SQLite in memory: the full-size trade list', () => {
  let t: TestApp;
  let http: Server;
  let repo: OperationsRepository;

  beforeAll(async () => {
    repo = new SqliteOperationsRepository({ dir: SQLITE_MEMORY_DIR });
    t = await createTestApp({ repository: repo });
    http = t.app.getHttpServer() as Server;
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  const N = 100_000;
  const CHUNK = 10_000;
  let id: string;

  it('stores 100,000 trades uploaded in chunks and serves every one, page by page and as CSV', async () => {
    const op = await runningBacktest(repo);
    id = op.id;
    const chunks = N / CHUNK;
    // Trades in the binary form workers send; the equity below in the JSON form older ones send.
    for (let c = 0; c < chunks; c++) {
      const rows = Array.from({ length: CHUNK }, (_, i) => tradeRow(c * CHUNK + i));
      const res = await putBinary(http, id, 'trades', c, op.lease, {
        chunk_count: chunks,
        first_row: c * CHUNK,
        total_rows: N,
        body: encodeArtifactRows(rows, ARTIFACT_COLUMNS.trades.length),
      }).expect(200);
      expect(res.body).toEqual({
        acknowledged: true,
        kind: 'trades',
        chunk_index: c,
        rows_stored: (c + 1) * CHUNK,
      });
    }
    await authed(http)
      .post(`/api/v1/operations/${id}/artifacts/equity`)
      .send({
        lease_token: op.lease,
        chunk_index: 0,
        chunk_count: 1,
        first_row: 0,
        total_rows: 3,
        columns: ['time', 'equity'],
        rows: [
          [T0, 1000],
          [T0 + HOUR, 1010.5],
          [T0 + 2 * HOUR, 990.25],
        ],
      })
      .expect(200);
    await authed(http)
      .post(`/api/v1/operations/${id}/complete`)
      .send({
        lease_token: op.lease,
        status: 'completed',
        result: {
          total_return: 0.12,
          num_trades: N,
          benchmark: { kind: 'buy_and_hold', total_return: 0.05 },
          excess_return: 0.07,
          trades_summary: { total: N, stored: N, omitted: 0, cap: 1_000_000, selection: 'first' },
          equity_summary: { total: 3, stored: 3, omitted: 0, cap: 2_000_000, selection: 'all' },
        },
      })
      .expect(200);

    // Page by page (the largest page, 10,000): every trade exactly once, in order.
    let seen = 0;
    for (let offset = 0; offset < N; offset += 10_000) {
      const page = await authed(http)
        .get(`/api/v1/operations/${id}/results/trades?limit=10000&offset=${offset}`)
        .expect(200);
      expect(page.body).toMatchObject({ success: true, total_count: N, offset, limit: 10_000 });
      const data = page.body.data as Record<string, unknown>[];
      expect(data).toHaveLength(10_000);
      const wrong = data.filter((trade, i) => {
        const r = tradeRow(offset + i);
        return trade.entry_time !== iso(r[0]) || trade.pnl !== r[5] || trade.entry_price !== r[2];
      });
      expect(wrong).toEqual([]);
      seen += data.length;
    }
    expect(seen).toBe(N);
    // A page across a chunk boundary, and past the end.
    const across = await authed(http)
      .get(`/api/v1/operations/${id}/results/trades?limit=7&offset=9997`)
      .expect(200);
    expect((across.body.data as { entry_time: string }[]).map((x) => x.entry_time)).toEqual(
      Array.from({ length: 7 }, (_, i) => iso(tradeRow(9997 + i)[0])),
    );
    expect(across.body.data[0]).toEqual({
      entry_time: iso(tradeRow(9997)[0]),
      exit_time: iso(tradeRow(9997)[1]),
      entry_price: 100 + 9997 / 1000,
      exit_price: 101 + 9997 / 1000,
      quantity: 1.5,
      pnl: 2.5,
      return_pct: 9997 / 1e6,
      bars_held: 1,
    });
    const end = await authed(http)
      .get(`/api/v1/operations/${id}/results/trades?limit=1000&offset=${N - 3}`)
      .expect(200);
    expect(end.body.data).toHaveLength(3);

    // The CSV: a header and 100,000 lines, none missing.
    const csv = await authed(http)
      .get(`/api/v1/operations/${id}/results/trades.csv`)
      .buffer(true)
      .parse((res, cb) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (data += chunk));
        res.on('end', () => cb(null, data));
      })
      .expect(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.headers['content-disposition']).toBe(`attachment; filename="${id}_trades.csv"`);
    const lines = (csv.body as string).trimEnd().split('\n');
    expect(lines[0]).toBe(ARTIFACT_COLUMNS.trades.join(','));
    expect(lines).toHaveLength(N + 1);
    for (let k = 0; k < N; k += 9_973) {
      const r = tradeRow(k);
      expect(lines[k + 1]).toBe(
        `${iso(r[0])},${iso(r[1])},${r[2]},${r[3]},${r[4]},${r[5]},${r[6]},${r[7]}`,
      );
    }
    const entries = new Set(lines.slice(1).map((l) => l.slice(0, 24)));
    expect(entries.size).toBe(N);
  }, 300_000);

  it('serves the full equity curve as CSV and the result with its links in {success, data}', async () => {
    const eq = await getCsv(http, `/api/v1/operations/${id}/results/equity.csv`);
    expect(eq.body).toBe(
      `time,equity\n${iso(T0)},1000\n${iso(T0 + HOUR)},1010.5\n${iso(T0 + 2 * HOUR)},990.25\n`,
    );
    const res = await authed(http).get(`/api/v1/operations/${id}/results`).expect(200);
    expect(res.body.success).toBe(true);
    expect(res.body.data).toMatchObject({
      operation_id: id,
      operation_type: 'backtesting',
      status: 'completed',
      result: { num_trades: N, trades_summary: { stored: N, omitted: 0 } },
      links: { trades_csv: `/api/v1/operations/${id}/results/trades.csv` },
    });
    // GET /operations/{id} and the list carry the headline only.
    const one = await authed(http).get(`/api/v1/operations/${id}`).expect(200);
    expect(one.body.data.metrics).toEqual({
      total_return: 0.12,
      num_trades: N,
      excess_return: 0.07,
      benchmark_return: 0.05,
    });
    const list = await authed(http).get('/api/v1/operations').expect(200);
    const mine = (list.body.data as { operation_id: string; metrics: unknown }[]).find(
      (o) => o.operation_id === id,
    );
    expect(mine?.metrics).toEqual(one.body.data.metrics);
    expect(JSON.stringify(list.body)).not.toContain('trades_summary');
  });

  it('checks a binary chunk: lease header, columns, whole rows, finite values, bounds, content type', async () => {
    const op = await runningBacktest(repo);
    const two = encodeArtifactRows([tradeRow(0), tradeRow(1)], 8);
    const ok = { chunk_count: 2, first_row: 0, total_rows: 4, body: two };
    const message = async (r: ReturnType<typeof putBinary>, status: number) =>
      (await r.expect(status)).body.message as string;
    expect(await message(putBinary(http, op.id, 'trades', 0, null, ok), 400)).toBe(
      `${LEASE_TOKEN_HEADER} is required (a request header): the lease token of the dispatch the chunk belongs to`,
    );
    expect(await message(putBinary(http, op.id, 'trades', 0, 'old', ok), 409)).toMatch(
      /^Stale lease/,
    );
    expect(
      await message(putBinary(http, op.id, 'trades', 0, op.lease, { ...ok, columns: 'a,b' }), 400),
    ).toBe(
      `columns must be ${ARTIFACT_COLUMNS.trades.join(',')} for trades (the body's column order)`,
    );
    expect(
      await message(
        putBinary(http, op.id, 'trades', 0, op.lease, { ...ok, body: two.subarray(0, 100) }),
        400,
      ),
    ).toMatch(
      /^body must be whole rows of 8 little-endian float64 values \(64 bytes each.*got 100 bytes$/,
    );
    const bad = encodeArtifactRows([tradeRow(0), [...tradeRow(1).slice(0, 5), NaN, 0, 1]], 8);
    expect(
      await message(putBinary(http, op.id, 'trades', 0, op.lease, { ...ok, body: bad }), 400),
    ).toBe('body has a value that is not a finite number: row 1, pnl');
    expect(
      await message(putBinary(http, op.id, 'trades', 0, op.lease, { ...ok, first_row: 3 }), 400),
    ).toBe('first_row + rows must not exceed total_rows');
    expect(await message(putBinary(http, op.id, 'trades', 2, op.lease, ok), 400)).toBe(
      'chunk_index must be less than chunk_count',
    );
    expect(await message(putBinary(http, op.id, 'trades', 'x', op.lease, ok), 400)).toBe(
      'index must be a chunk index (0, 1, 2, …)',
    );
    expect(
      await message(
        putBinary(http, op.id, 'trades', 0, op.lease, { ...ok, chunk_count: 'two' as never }),
        400,
      ),
    ).toMatch(/^chunk_count/);
    // Binary on another route, or another format on this one, is refused with the reason.
    expect(
      (
        await authed(http)
          .post('/api/v1/backtests/start')
          .set('content-type', ARTIFACT_CHUNK_MEDIA_TYPE)
          .send(Buffer.from(two.buffer))
          .expect(415)
      ).body.message,
    ).toMatch(/^body must be JSON/);
    expect(
      await message(
        putBinary(http, op.id, 'trades', 0, op.lease, { ...ok, contentType: 'text/plain' }),
        415,
      ),
    ).toMatch(/^body must be JSON/);
    // Over the limit: 413 in the envelope, not a crash.
    const huge = new Uint8Array(MAX_ARTIFACT_CHUNK_BYTES + 64);
    expect(
      (await putBinary(http, op.id, 'trades', 0, op.lease, { ...ok, body: huge }).expect(413)).body
        .statusCode,
    ).toBe(413);
    const stored = await putBinary(http, op.id, 'trades', 0, op.lease, ok).expect(200);
    expect(stored.body).toEqual({
      acknowledged: true,
      kind: 'trades',
      chunk_index: 0,
      rows_stored: 2,
    });
  });

  it('still serves chunks stored as JSON text before the binary form (migration 5)', async () => {
    const op = await runningBacktest(repo);
    const executor = (repo as SqliteOperationsRepository).executor;
    await executor.query(
      `INSERT INTO operation_artifacts
         (operation_id, kind, chunk_index, lease_token, first_row, row_count, total_rows, rows)
       VALUES ($1::text, 'equity', 0, $2::text, 0, 2, 2, $3::text)`,
      [
        op.id,
        op.lease,
        JSON.stringify([
          [T0, 1000],
          [T0 + HOUR, 1001.5],
        ]),
      ],
    );
    await authed(http)
      .post(`/api/v1/operations/${op.id}/complete`)
      .send({ lease_token: op.lease, status: 'completed', result: { total_return: 0 } })
      .expect(200);
    const eq = await getCsv(http, `/api/v1/operations/${op.id}/results/equity.csv`);
    expect(eq.body).toBe(`time,equity\n${iso(T0)},1000\n${iso(T0 + HOUR)},1001.5\n`);
  });

  it('fences uploads by lease, validates every row and replaces an older lease', async () => {
    const op = await runningBacktest(repo);
    const chunk = (over: object = {}) => ({
      lease_token: op.lease,
      chunk_index: 0,
      chunk_count: 2,
      first_row: 0,
      total_rows: 4,
      columns: ARTIFACT_COLUMNS.trades,
      rows: [tradeRow(0), tradeRow(1)],
      ...over,
    });
    const url = `/api/v1/operations/${op.id}/artifacts/trades`;
    expect(
      (
        await authed(http)
          .post(url)
          .send(chunk({ lease_token: 'old' }))
          .expect(409)
      ).body.message,
    ).toMatch(/Stale lease/);
    expect(
      (
        await authed(http)
          .post(url)
          .send(chunk({ columns: ['a', 'b'] }))
          .expect(400)
      ).body.message,
    ).toBe(`columns must be ${ARTIFACT_COLUMNS.trades.join(',')} for trades`);
    expect(
      (
        await authed(http)
          .post(url)
          .send(chunk({ rows: [tradeRow(0), [1, 2]] }))
          .expect(400)
      ).body.message,
    ).toMatch(/^rows\.1 must be an array of 8 finite numbers/);
    expect(
      (
        await authed(http)
          .post(url)
          .send(chunk({ first_row: 3 }))
          .expect(400)
      ).body.message,
    ).toBe('first_row + rows must not exceed total_rows');
    expect(
      (
        await authed(http)
          .post(`/api/v1/operations/${op.id}/artifacts/orders`)
          .send(chunk())
          .expect(400)
      ).body.message,
    ).toBe('kind must be one of: trades, equity');
    expect(
      (
        await authed(http)
          .post(url)
          .send({ ...chunk(), extra: 1 })
          .expect(400)
      ).body.message,
    ).toBe('extra: unknown field (not allowed)');
    await authed(http)
      .post('/api/v1/operations/op_nope/artifacts/trades')
      .send(chunk())
      .expect(404);

    await authed(http).post(url).send(chunk()).expect(200);
    // A re-dispatch: the new lease's first chunk drops the old lease's chunks.
    await repo.update(op.id, { lease_token: 'lease-2', attempt: 2 });
    const again = await authed(http)
      .post(url)
      .send(chunk({ lease_token: 'lease-2', rows: [tradeRow(10)], total_rows: 1, chunk_count: 1 }))
      .expect(200);
    expect(again.body.rows_stored).toBe(1);
    await authed(http).post(url).send(chunk()).expect(409); // the old lease is stale now

    // A summary claiming more than the store holds is corrected, never passed on.
    await authed(http)
      .post(`/api/v1/operations/${op.id}/complete`)
      .send({
        lease_token: 'lease-2',
        status: 'completed',
        result: { trades_summary: { total: 5, stored: 5, omitted: 0, cap: 9, selection: 'first' } },
      })
      .expect(200);
    const res = await authed(http).get(`/api/v1/operations/${op.id}/results`).expect(200);
    expect(res.body.data.result.trades_summary).toEqual({
      total: 5,
      stored: 1,
      omitted: 4,
      cap: 9,
      selection: 'first',
    });
    // After completion nothing more is accepted.
    await authed(http)
      .post(url)
      .send(chunk({ lease_token: 'lease-2' }))
      .expect(409);
  });

  it('refuses trades of a training and of an unfinished backtest', async () => {
    const training = await runningBacktest(repo, OperationType.TRAINING);
    await authed(http)
      .post(`/api/v1/operations/${training.id}/complete`)
      .send({ lease_token: training.lease, status: 'completed', result: { model_name: 'm' } })
      .expect(200);
    expect(
      (await authed(http).get(`/api/v1/operations/${training.id}/results/trades`).expect(400)).body
        .message,
    ).toMatch(/is a training; only backtests have trades/);
    const running = await runningBacktest(repo);
    expect(
      (await authed(http).get(`/api/v1/operations/${running.id}/results/trades.csv`).expect(400))
        .body.message,
    ).toMatch(/results are available once it has completed/);
    await authed(http).get(`/api/v1/operations/${running.id}/results/trades?limit=0`).expect(400);
    await authed(http)
      .get(`/api/v1/operations/${running.id}/results/trades?limit=10001`)
      .expect(400);
  });

  it('still serves the inline trades of a result completed before trades became artifacts', async () => {
    const old = await runningBacktest(repo);
    const inline = [
      {
        entry_time: iso(T0),
        exit_time: iso(T0 + HOUR),
        entry_price: 10,
        exit_price: 11,
        quantity: 2,
        pnl: 2,
        return_pct: 0.1,
      },
    ];
    await authed(http)
      .post(`/api/v1/operations/${old.id}/complete`)
      .send({ lease_token: old.lease, status: 'completed', result: { trades: inline } })
      .expect(200);
    const page = await authed(http).get(`/api/v1/operations/${old.id}/results/trades`).expect(200);
    expect(page.body).toMatchObject({ total_count: 1, data: [{ ...inline[0], bars_held: 0 }] });
    const csv = await authed(http)
      .get(`/api/v1/operations/${old.id}/results/trades.csv`)
      .expect(200);
    expect(String(csv.text).trimEnd().split('\n')).toHaveLength(2);
  });

  it('deletes the artifacts with their operation (retention purge)', async () => {
    const gone = await repo.purgeFinishedBefore(new Date(Date.now() + 60_000));
    expect(gone).toBeGreaterThan(0);
    const executor = (repo as SqliteOperationsRepository).executor;
    const { rows } = await executor.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM operation_artifacts WHERE operation_id = $1::text',
      [id],
    );
    expect(rows[0].n).toBe(0);
  });
});

describe('GET /models', () => {
  let t: TestApp;
  let http: Server;
  let dir: string;
  const repo = memoryStore();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ktrdr-models-'));
    t = await createTestApp({ repository: repo, settings: { ...testSettings(), models_dir: dir } });
    http = t.app.getHttpServer() as Server;
  });

  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists trained models with their training and metrics, from the store and the models dir, without paths', async () => {
    const op = await runningBacktest(repo, OperationType.TRAINING);
    await authed(http)
      .post(`/api/v1/operations/${op.id}/complete`)
      .send({
        lease_token: op.lease,
        status: 'completed',
        result: {
          model_name: 'from-op',
          symbol: 'SYNTH-DEMO',
          timeframe: '1h',
          best_epoch: 4,
          epochs_run: 6,
          train_loss: 0.68,
          val_loss: 0.69,
          train_accuracy: 0.55,
          val_accuracy: 0.52,
          feature_names: ['returns_1', 'rsi_14'],
          config: { model: { hidden_layers: [8] } },
        },
      })
      .expect(200);
    const model = {
      format: 'ktrdr-mlp',
      version: 1,
      created_at: '2026-01-02T03:04:05.000Z',
      features: { names: ['rsi_14'], warmup: 14 },
      layers: [
        {
          inputs: 1,
          outputs: 4,
          activation: 'relu',
          weights: [[1], [1], [1], [1]],
          bias: [0, 0, 0, 0],
        },
        { inputs: 4, outputs: 1, activation: 'sigmoid', weights: [[1, 1, 1, 1]], bias: [0] },
      ],
      training: {
        symbol: 'AAPL',
        timeframe: '1d',
        operation_id: 'op_training_20260102_0000000000ff',
        best_epoch: 2,
        epochs_run: 3,
        val_accuracy: 0.6,
      },
    };
    writeFileSync(join(dir, 'file-only.json'), JSON.stringify(model));
    writeFileSync(join(dir, 'from-op.json'), JSON.stringify({ ...model, training: {} }));
    writeFileSync(join(dir, 'notes.json'), '{"hello": 1}');
    writeFileSync(join(dir, 'broken.json'), '{');
    const res = await authed(http).get('/api/v1/models').expect(200);
    expect(res.body.total_count).toBe(2);
    const byName = Object.fromEntries(
      (res.body.data as { model_name: string }[]).map((m) => [m.model_name, m]),
    );
    expect(byName['from-op']).toMatchObject({
      operation_id: op.id,
      symbol: 'SYNTH-DEMO',
      features: ['returns_1', 'rsi_14'],
      hidden_layers: [8],
      metrics: { best_epoch: 4, val_accuracy: 0.52, val_loss: 0.69 },
      file_present: true,
    });
    expect(byName['file-only']).toMatchObject({
      operation_id: 'op_training_20260102_0000000000ff',
      symbol: 'AAPL',
      hidden_layers: [4],
      metrics: { best_epoch: 2, val_accuracy: 0.6, val_loss: null },
      file_present: true,
    });
    expect(JSON.stringify(res.body)).not.toContain(dir);
  });
});
