import { WorkerStatus, WorkerType, type WorkerDto } from '@ktrdr/contracts';
import { LifecycleEvents } from '../src/operations/lifecycle-events';
import { announceWhenReady } from '../src/ready-banner';

function worker(type: WorkerType, status: WorkerStatus): WorkerDto {
  return {
    worker_id: `${type}-1`,
    worker_type: type,
    endpoint_url: 'http://127.0.0.1:5003',
    status,
    current_operation_id: null,
    capabilities: { gpu: false, cpu_count: 2, memory_gb: 4 },
    last_health_check: null,
    last_healthy_at: null,
    health_check_failures: 0,
    registered_at: new Date(0).toISOString(),
    draining: false,
    metadata: {},
  };
}

describe('the development ready banner', () => {
  const tick = () => new Promise((r) => setImmediate(r));

  it('is printed once, when a backtest and a training worker are both available', async () => {
    const events = new LifecycleEvents();
    const lines: string[] = [];
    announceWhenReady(
      events,
      { log: (m: unknown) => void lines.push(String(m)) },
      { host: '0.0.0.0', port: 8000 },
      true,
      { dev_key_file: '/home/u/.ktrdr/data/dev-api-key' },
    );
    events.worker('registered', worker(WorkerType.BACKTESTING, WorkerStatus.AVAILABLE));
    events.worker('registered', worker(WorkerType.TRAINING, WorkerStatus.BUSY));
    await tick();
    expect(lines).toEqual([]);
    events.worker('status_changed', worker(WorkerType.TRAINING, WorkerStatus.AVAILABLE));
    await tick();
    expect(lines).toHaveLength(1);
    const banner = lines[0]!;
    expect(banner).toMatch(/^KTRDR is ready/);
    expect(banner).toContain('Dashboard  http://localhost:8000/ui/');
    expect(banner).toContain(
      'API        http://localhost:8000/api/v1 (key: /home/u/.ktrdr/data/dev-api-key)',
    );
    expect(banner).toContain('Swagger    http://localhost:8000/api/docs');
    expect(banner).toContain('npx ktrdr backtest run');
    // Later registrations say nothing more, and the listener is gone.
    events.worker('registered', worker(WorkerType.BACKTESTING, WorkerStatus.AVAILABLE));
    await tick();
    expect(lines).toHaveLength(1);
    expect(events.listenerCount('worker')).toBe(0);
  });

  it('names the configured host, and leaves out the dashboard and key lines when there are none', async () => {
    const events = new LifecycleEvents();
    const lines: string[] = [];
    announceWhenReady(
      events,
      { log: (m: unknown) => void lines.push(String(m)) },
      { host: '127.0.0.1', port: 9100 },
      false,
      { dev_key_file: null },
    );
    events.worker('registered', worker(WorkerType.TRAINING, WorkerStatus.AVAILABLE));
    events.worker('registered', worker(WorkerType.BACKTESTING, WorkerStatus.AVAILABLE));
    await tick();
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('Dashboard');
    expect(lines[0]).toContain('API        http://127.0.0.1:9100/api/v1\n');
  });
});
