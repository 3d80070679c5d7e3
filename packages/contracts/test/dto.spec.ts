import 'reflect-metadata';
import {
  ArtifactChunkRequestDto,
  BacktestStartRequestDto,
  MAX_ARTIFACT_CHUNK_ROWS,
  CompleteOperationRequestDto,
  HeartbeatRequestDto,
  ListOperationsQueryDto,
  ListWorkersQueryDto,
  ProgressReportDto,
  RegisterWorkerRequestDto,
  TrainingStartRequestDto,
  WorkerBacktestStartRequestDto,
  WorkerTrainingStartRequestDto,
  fromLegacyDispatchBody,
  WorkerType,
  buildPath,
  validatePayload,
} from '../src/index';

const validRegistration = {
  worker_id: 'backtesting-worker-1a2b3c4d',
  worker_type: 'backtesting',
  endpoint_url: 'http://backtest-worker-1:5003',
  capabilities: { gpu: false, cpu_count: 2, memory_gb: 24 },
};

const validBacktest = {
  symbol: 'SYNTH-DEMO',
  timeframe: '1h',
  start_date: '2024-01-01',
  end_date: '2024-03-01',
  strategy: { type: 'sma_crossover', fast_period: 10, slow_period: 30 },
  initial_capital: 100000,
  commission: 0.001,
  slippage: 0.0005,
};

const validTraining = {
  symbol: 'SYNTH-DEMO',
  timeframe: '1h',
  start_date: '2024-01-01T00:00:00Z',
  end_date: '2024-06-01T00:00:00Z',
  features: ['returns_1', 'rsi_14'],
  model: { hidden_layers: [16, 8] },
  epochs: 20,
  learning_rate: 0.001,
};

function errorsOf(cls: new () => object, payload: unknown): string[] {
  const r = validatePayload(cls, payload);
  return r.ok ? [] : r.errors;
}

describe('RegisterWorkerRequestDto', () => {
  it('accepts a valid registration', () => {
    expect(errorsOf(RegisterWorkerRequestDto, validRegistration)).toEqual([]);
  });

  it('maps the cpu_training alias to training', () => {
    const r = validatePayload(RegisterWorkerRequestDto, {
      ...validRegistration,
      worker_type: 'cpu_training',
    });
    expect(r.ok && r.value.worker_type).toBe(WorkerType.TRAINING);
  });

  it.each([
    ['ftp://worker:5003', 'endpoint_url'],
    ['worker:5003', 'endpoint_url'],
    ['http://', 'endpoint_url'],
  ])('rejects endpoint_url %s', (endpoint_url, field) => {
    const errors = errorsOf(RegisterWorkerRequestDto, { ...validRegistration, endpoint_url });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`^${field} `));
  });

  it.each(['', 'a'.repeat(129), 'has space', '-leading-dash', 'semi;colon'])(
    'rejects worker_id %j',
    (worker_id) => {
      const errors = errorsOf(RegisterWorkerRequestDto, { ...validRegistration, worker_id });
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.every((e) => e.startsWith('worker_id'))).toBe(true);
    },
  );

  it('rejects an unknown worker_type and names the field', () => {
    const errors = errorsOf(RegisterWorkerRequestDto, { ...validRegistration, worker_type: 'gpu' });
    expect(errors).toEqual([
      expect.stringMatching(/^worker_type must be one of the following values/),
    ]);
  });

  it('rejects unknown fields, naming them', () => {
    const errors = errorsOf(RegisterWorkerRequestDto, { ...validRegistration, colour: 'red' });
    expect(errors).toEqual(['colour: unknown field (not allowed)']);
  });

  it('validates nested capabilities and completed operations with dotted paths', () => {
    const errors = errorsOf(RegisterWorkerRequestDto, {
      ...validRegistration,
      capabilities: { gpu: 'yes' },
      completed_operations: [{ operation_id: 'op-1', lease_token: 'l1', status: 'done' }],
    });
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^capabilities\.gpu /),
        expect.stringMatching(/^completed_operations\.0\.status /),
      ]),
    );
  });

  it('rejects a body that is not an object', () => {
    expect(errorsOf(RegisterWorkerRequestDto, [1, 2])).toEqual(['body must be a JSON object']);
    expect(errorsOf(RegisterWorkerRequestDto, null)).toEqual(['body must be a JSON object']);
  });

  it('allows current_operation_id null', () => {
    expect(
      errorsOf(RegisterWorkerRequestDto, { ...validRegistration, current_operation_id: null }),
    ).toEqual([]);
  });
});

describe('HeartbeatRequestDto', () => {
  it('accepts busy with progress', () => {
    expect(
      errorsOf(HeartbeatRequestDto, {
        status: 'busy',
        current_operation_id: 'op_1',
        progress: { percentage: 50, items_processed: 5, items_total: 10 },
      }),
    ).toEqual([]);
  });

  it('rejects temporarily_unavailable (the backend decides that) and bad progress', () => {
    const errors = errorsOf(HeartbeatRequestDto, {
      status: 'temporarily_unavailable',
      progress: { percentage: 150 },
    });
    expect(errors).toEqual([
      'status must be one of the following values: available, busy',
      expect.stringMatching(/^progress\.percentage must not be greater than 100/),
    ]);
  });
});

describe('BacktestStartRequestDto', () => {
  it('accepts a valid request', () => {
    expect(errorsOf(BacktestStartRequestDto, validBacktest)).toEqual([]);
  });

  it('requires the parameters of the chosen strategy', () => {
    const errors = errorsOf(BacktestStartRequestDto, {
      ...validBacktest,
      strategy: { type: 'rsi_mean_reversion' },
    });
    expect(errors.some((e) => e.startsWith('strategy.period '))).toBe(true);
    expect(errors.some((e) => e.startsWith('strategy.oversold '))).toBe(true);
    expect(errors.some((e) => e.startsWith('strategy.overbought '))).toBe(true);
  });

  it('rejects fast_period >= slow_period', () => {
    const errors = errorsOf(BacktestStartRequestDto, {
      ...validBacktest,
      strategy: { type: 'sma_crossover', fast_period: 30, slow_period: 10 },
    });
    expect(errors).toEqual(['strategy.fast_period must be less than slow_period']);
  });

  it('rejects an end_date before start_date, a bad timeframe and a bad symbol', () => {
    const errors = errorsOf(BacktestStartRequestDto, {
      ...validBacktest,
      symbol: '../etc/passwd',
      timeframe: '2h',
      end_date: '2023-01-01',
    });
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^symbol /),
        expect.stringMatching(/^timeframe must be one of/),
        'end_date must be after start_date',
      ]),
    );
  });

  it('rejects a model strategy without a safe model_name', () => {
    expect(
      errorsOf(BacktestStartRequestDto, { ...validBacktest, strategy: { type: 'model' } }),
    ).toEqual(expect.arrayContaining([expect.stringMatching(/^strategy\.model_name /)]));
    expect(
      errorsOf(BacktestStartRequestDto, {
        ...validBacktest,
        strategy: { type: 'model', model_name: '../x' },
      }),
    ).toEqual([expect.stringMatching(/^strategy\.model_name must be/)]);
  });

  it('rejects commission out of range and a string capital', () => {
    const errors = errorsOf(BacktestStartRequestDto, {
      ...validBacktest,
      commission: 0.5,
      initial_capital: '100',
    });
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^commission /),
        expect.stringMatching(/^initial_capital /),
      ]),
    );
  });
});

describe('risk_free_rate', () => {
  it('is optional and bounded to -0.1 … 0.25', () => {
    expect(errorsOf(BacktestStartRequestDto, { ...validBacktest, risk_free_rate: 0.04 })).toEqual(
      [],
    );
    expect(errorsOf(BacktestStartRequestDto, { ...validBacktest, risk_free_rate: 0.5 })).toEqual([
      'risk_free_rate must not be greater than 0.25',
    ]);
    expect(errorsOf(BacktestStartRequestDto, { ...validBacktest, risk_free_rate: -1 })).toEqual([
      'risk_free_rate must not be less than -0.1',
    ]);
  });
});

describe('ArtifactChunkRequestDto', () => {
  const chunk = {
    lease_token: 'lease-1',
    chunk_index: 0,
    chunk_count: 1,
    first_row: 0,
    total_rows: 2,
    columns: ['time', 'equity'],
    rows: [
      [1704067200000, 1000],
      [1704070800000, 1001],
    ],
  };
  it('accepts a chunk and bounds its rows', () => {
    expect(errorsOf(ArtifactChunkRequestDto, chunk)).toEqual([]);
    const big = { ...chunk, rows: new Array(MAX_ARTIFACT_CHUNK_ROWS + 1).fill([1, 2]) };
    expect(errorsOf(ArtifactChunkRequestDto, big)).toEqual([
      `rows must contain no more than ${MAX_ARTIFACT_CHUNK_ROWS} elements`,
    ]);
    expect(errorsOf(ArtifactChunkRequestDto, { ...chunk, lease_token: undefined })).toEqual([
      'lease_token is required',
    ]);
  });
});

describe('TrainingStartRequestDto', () => {
  it('accepts a valid request', () => {
    expect(errorsOf(TrainingStartRequestDto, validTraining)).toEqual([]);
  });

  it('takes early_stopping.patience 0 (every epoch runs) and refuses a negative one by name', () => {
    const with0 = { ...validTraining, early_stopping: { patience: 0 } };
    expect(errorsOf(TrainingStartRequestDto, with0)).toEqual([]);
    const negative = { ...validTraining, early_stopping: { patience: -1 } };
    expect(errorsOf(TrainingStartRequestDto, negative)).toEqual([
      expect.stringMatching(/^early_stopping\.patience must not be less than 0/),
    ]);
  });

  it('defaults features and model: a request with market data only is valid', () => {
    const { features: _f, model: _m, ...rest } = validTraining as Record<string, unknown>;
    expect(errorsOf(TrainingStartRequestDto, rest)).toEqual([]);
  });

  it('names a missing required field once', () => {
    const { symbol: _s, ...rest } = validTraining as Record<string, unknown>;
    expect(errorsOf(TrainingStartRequestDto, rest)).toEqual(['symbol is required']);
  });

  it('rejects unknown features, duplicate features and bad layers', () => {
    const errors = errorsOf(TrainingStartRequestDto, {
      ...validTraining,
      features: ['returns_1', 'returns_1', 'moon_phase'],
      model: { hidden_layers: [0, 512] },
    });
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^features /),
        expect.stringMatching(
          /^model\.hidden_layers: each value in hidden_layers must not be greater than 256/,
        ),
      ]),
    );
  });
});

describe('dispatch payloads', () => {
  it('require operation_id, lease_token and attempt beside the nested params', () => {
    expect(errorsOf(WorkerBacktestStartRequestDto, { params: validBacktest }).sort()).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^operation_id /),
        expect.stringMatching(/^lease_token /),
        expect.stringMatching(/^attempt /),
      ]),
    );
    expect(
      errorsOf(WorkerTrainingStartRequestDto, {
        operation_id: 'op_1',
        lease_token: 'lease-1',
        attempt: 1,
        resume_from: { type: 'shutdown', created_at: '2026-11-22T10:00:00.000Z', unit: 3 },
        params: validTraining,
      }),
    ).toEqual([]);
  });

  it('validate the params with the public start request and name the nested field', () => {
    const dispatch = { operation_id: 'op_1', lease_token: 'lease-1', attempt: 1 };
    expect(errorsOf(WorkerBacktestStartRequestDto, dispatch)).toEqual([
      expect.stringMatching(/^params /),
    ]);
    expect(
      errorsOf(WorkerBacktestStartRequestDto, {
        ...dispatch,
        params: { ...validBacktest, symbol: '../etc' },
      }),
    ).toEqual([expect.stringMatching(/^params\.symbol /)]);
    // The parameters no longer sit at the top level: a spread body is refused, field by field.
    expect(errorsOf(WorkerBacktestStartRequestDto, { ...dispatch, ...validBacktest })).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^params /),
        expect.stringMatching(/^symbol: unknown field/),
      ]),
    );
  });

  it("read a 0.1 backend's flat body (task_id, params spread) as the nested shape", () => {
    const legacy = {
      task_id: 'op_1',
      lease_token: 'l',
      attempt: 2,
      resume_from: null,
      ...validBacktest,
    };
    const nested = fromLegacyDispatchBody(legacy);
    expect(nested).toEqual({
      operation_id: 'op_1',
      lease_token: 'l',
      attempt: 2,
      resume_from: null,
      params: validBacktest,
    });
    expect(errorsOf(WorkerBacktestStartRequestDto, nested)).toEqual([]);
    // Anything else is left to validation as it is.
    expect(fromLegacyDispatchBody({ operation_id: 'op_1', params: {} })).toBeNull();
    expect(fromLegacyDispatchBody({ task_id: 'op_1', params: {} })).toBeNull();
    expect(fromLegacyDispatchBody([{ task_id: 'x' }])).toBeNull();
    expect(fromLegacyDispatchBody('task_id')).toBeNull();
  });
});

describe('worker reports', () => {
  it('progress requires a lease token', () => {
    const errors = errorsOf(ProgressReportDto, { progress: { percentage: 1 } });
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.startsWith('lease_token '))).toBe(true);
  });

  it('complete accepts completed/failed/cancelled only', () => {
    expect(
      errorsOf(CompleteOperationRequestDto, { lease_token: 'l', status: 'completed', result: {} }),
    ).toEqual([]);
    expect(errorsOf(CompleteOperationRequestDto, { lease_token: 'l', status: 'running' })).toEqual([
      expect.stringMatching(
        /^status must be one of the following values: completed, failed, cancelled/,
      ),
    ]);
  });
});

describe('query DTOs', () => {
  it('coerce limit/offset and bound them', () => {
    const ok = validatePayload(ListOperationsQueryDto, { limit: '10', offset: '0' });
    expect(ok.ok && ok.value.limit).toBe(10);
    expect(errorsOf(ListOperationsQueryDto, { limit: '0' })).toEqual([
      expect.stringMatching(/^limit /),
    ]);
    expect(errorsOf(ListOperationsQueryDto, { limit: '1001' })).toEqual([
      expect.stringMatching(/^limit /),
    ]);
    expect(errorsOf(ListOperationsQueryDto, { status: 'done' })).toEqual([
      expect.stringMatching(/^status /),
    ]);
  });

  it('worker filters reject invalid values', () => {
    expect(errorsOf(ListWorkersQueryDto, { worker_type: 'quantum' })).toEqual([
      expect.stringMatching(/^worker_type /),
    ]);
  });
});

describe('buildPath', () => {
  it('substitutes and encodes parameters', () => {
    expect(buildPath('workers/:id/heartbeat', { id: 'a b' })).toBe('workers/a%20b/heartbeat');
    expect(() => buildPath('workers/:id', {})).toThrow('Missing path parameter "id"');
  });
});
