import { WorkerActivity, WorkerStatus, WorkerType } from '@ktrdr/contracts';
import { LifecycleEvents } from '../src/operations/lifecycle-events';
import { WorkerRegistry, toWorkerDto } from '../src/workers/worker-registry';
import { ManualClock } from './support/manual-clock';

function reg(id: string, type = WorkerType.BACKTESTING, extra: Record<string, unknown> = {}) {
  return {
    worker_id: id,
    worker_type: type,
    endpoint_url: `http://${id}:5003`,
    current_operation_id: null,
    ...extra,
  };
}

describe('WorkerRegistry', () => {
  let clock: ManualClock;
  let registry: WorkerRegistry;
  beforeEach(() => {
    clock = new ManualClock();
    registry = new WorkerRegistry(clock);
  });

  describe('upsert', () => {
    it('is idempotent by worker_id and resets the failure count', () => {
      registry.upsert(reg('a'));
      registry.recordHealth('a', 'http://a:5003', { ok: false, reason: 'x' }, 3);
      expect(registry.get('a')!.health_check_failures).toBe(1);
      clock.advanceSeconds(5);
      const again = registry.upsert(reg('a'));
      expect(again.created).toBe(false);
      expect(registry.size).toBe(1);
      expect(again.entry.health_check_failures).toBe(0);
      expect(again.entry.registered_at).toBe(clock.now());
    });

    it('drops another record with the same endpoint_url (trailing slash ignored)', () => {
      registry.upsert({ ...reg('old'), endpoint_url: 'http://host:5003/' });
      const r = registry.upsert({ ...reg('new'), endpoint_url: 'http://host:5003' });
      expect(r.replaced).toEqual(['old']);
      expect(registry.get('old')).toBeUndefined();
      expect(registry.list().map((w) => w.worker_id)).toEqual(['new']);
    });

    it('frees the old endpoint when a worker moves', () => {
      registry.upsert({ ...reg('a'), endpoint_url: 'http://one:1' });
      registry.upsert({ ...reg('a'), endpoint_url: 'http://two:1' });
      const r = registry.upsert({ ...reg('b'), endpoint_url: 'http://one:1' });
      expect(r.replaced).toEqual([]);
      expect(registry.size).toBe(2);
    });

    it('keeps a worker busy when it reports a current operation', () => {
      const r = registry.upsert({ ...reg('a'), current_operation_id: 'op1' });
      expect(r.entry.status).toBe(WorkerStatus.BUSY);
      expect(r.entry.current_operation_id).toBe('op1');
    });
  });

  describe('selection', () => {
    it('picks the least-recently-selected available worker and marks it busy', () => {
      ['a', 'b', 'c'].forEach((id) => registry.upsert(reg(id)));
      const first = registry.selectAndMarkBusy([WorkerType.BACKTESTING], 'op1');
      expect(first!.worker_id).toBe('a');
      expect(first!.status).toBe(WorkerStatus.BUSY);
      expect(first!.current_operation_id).toBe('op1');
      expect(registry.selectAndMarkBusy([WorkerType.BACKTESTING], 'op2')!.worker_id).toBe('b');
      registry.release('a', 'op1');
      // c was never selected, so it goes before a.
      expect(registry.selectAndMarkBusy([WorkerType.BACKTESTING], 'op3')!.worker_id).toBe('c');
      expect(registry.selectAndMarkBusy([WorkerType.BACKTESTING], 'op4')!.worker_id).toBe('a');
      expect(registry.selectAndMarkBusy([WorkerType.BACKTESTING], 'op5')).toBeNull();
    });

    it('rotates through workers (least recently selected)', () => {
      ['a', 'b', 'c'].forEach((id) => registry.upsert(reg(id)));
      const picks: string[] = [];
      for (let i = 0; i < 6; i++) {
        const w = registry.selectAndMarkBusy([WorkerType.BACKTESTING], `op${i}`)!;
        picks.push(w.worker_id);
        registry.release(w.worker_id, `op${i}`);
      }
      expect(picks).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    });

    it('only considers the requested types and excluded ids', () => {
      registry.upsert(reg('t', WorkerType.TRAINING));
      registry.upsert(reg('b'));
      expect(
        registry.selectAndMarkBusy([WorkerType.TRAINING], 'op', { exclude: new Set(['t']) }),
      ).toBeNull();
      expect(registry.selectAndMarkBusy([WorkerType.TRAINING], 'op')!.worker_id).toBe('t');
    });

    it('puts GPU workers first for training, then CPU, each least-recently-selected', () => {
      registry.upsert(reg('cpu1', WorkerType.TRAINING));
      registry.upsert(reg('gpu1', WorkerType.GPU_HOST, { capabilities: { gpu: true } }));
      registry.upsert(reg('gpu2', WorkerType.TRAINING, { capabilities: { gpu: true } }));
      registry.upsert(reg('cpu2', WorkerType.TRAINING, { capabilities: { gpu: false } }));
      const types = [WorkerType.TRAINING, WorkerType.GPU_HOST];
      const order = [1, 2, 3, 4, 5].map(
        (i) => registry.selectAndMarkBusy(types, `op${i}`, { preferGpu: true })?.worker_id ?? null,
      );
      expect(order).toEqual(['gpu1', 'gpu2', 'cpu1', 'cpu2', null]);
    });

    it('never selects busy or temporarily unavailable workers', () => {
      registry.upsert(reg('a'));
      registry.upsert({ ...reg('b'), current_operation_id: 'x' });
      for (let i = 0; i < 3; i++)
        registry.recordHealth('a', 'http://a:5003', { ok: false, reason: 'down' }, 3);
      expect(registry.get('a')!.status).toBe(WorkerStatus.TEMPORARILY_UNAVAILABLE);
      expect(registry.selectAndMarkBusy([WorkerType.BACKTESTING], 'op')).toBeNull();
    });

    it('release only frees the worker for the operation it holds', () => {
      registry.upsert(reg('a'));
      registry.selectAndMarkBusy([WorkerType.BACKTESTING], 'op1');
      expect(registry.release('a', 'other')).toBe(false);
      expect(registry.get('a')!.status).toBe(WorkerStatus.BUSY);
      expect(registry.release('a', 'op1')).toBe(true);
      expect(registry.get('a')!.status).toBe(WorkerStatus.AVAILABLE);
    });
  });

  describe('drain and undrain', () => {
    it('undrain makes a drained worker selectable again and tells the listeners once', () => {
      const events = new LifecycleEvents();
      const seen: string[] = [];
      events.on('worker', (e) => seen.push(`${e.kind} ${e.worker.worker_id} ${e.worker.draining}`));
      registry = new WorkerRegistry(clock, events);
      registry.upsert(reg('a'));
      registry.drain('a');
      expect(registry.peekAvailable([WorkerType.BACKTESTING])).toBeNull();
      expect(registry.undrain('a')?.draining).toBe(false);
      expect(registry.undrain('a')?.draining).toBe(false); // idempotent: no second event
      expect(registry.peekAvailable([WorkerType.BACKTESTING])?.worker_id).toBe('a');
      expect(seen).toEqual([
        'registered a false',
        'status_changed a true',
        'status_changed a false',
      ]);
      expect(registry.undrain('nobody')).toBeUndefined();
    });

    it('undrain keeps the status of a busy worker', () => {
      registry.upsert({ ...reg('a'), current_operation_id: 'op1' });
      registry.drain('a');
      expect(registry.undrain('a')).toMatchObject({
        status: WorkerStatus.BUSY,
        current_operation_id: 'op1',
        draining: false,
      });
    });
  });

  describe('heartbeats', () => {
    it('count as life and reset failures', () => {
      registry.upsert(reg('a'));
      for (let i = 0; i < 3; i++)
        registry.recordHealth('a', 'http://a:5003', { ok: false, reason: 'x' }, 3);
      clock.advanceSeconds(100);
      registry.applyHeartbeat(
        'a',
        { status: WorkerStatus.AVAILABLE, current_operation_id: null },
        1000,
      );
      const w = registry.get('a')!;
      expect(w.last_healthy_at).toBe(clock.now());
      expect(w.health_check_failures).toBe(0);
      expect(w.status).toBe(WorkerStatus.AVAILABLE);
    });

    it('keep a fresh reservation busy while the start request may be in flight', () => {
      registry.upsert(reg('a'));
      registry.selectAndMarkBusy([WorkerType.BACKTESTING], 'op1');
      registry.applyHeartbeat(
        'a',
        { status: WorkerStatus.AVAILABLE, current_operation_id: null },
        10_000,
      );
      expect(registry.get('a')!.status).toBe(WorkerStatus.BUSY);
      clock.advanceSeconds(11);
      registry.applyHeartbeat(
        'a',
        { status: WorkerStatus.AVAILABLE, current_operation_id: null },
        10_000,
      );
      expect(registry.get('a')!.status).toBe(WorkerStatus.AVAILABLE);
      expect(registry.get('a')!.current_operation_id).toBeNull();
    });

    it('take the operation the worker reports', () => {
      registry.upsert(reg('a'));
      registry.applyHeartbeat(
        'a',
        { status: WorkerStatus.BUSY, current_operation_id: 'op9' },
        1000,
      );
      expect(registry.get('a')).toMatchObject({
        status: WorkerStatus.BUSY,
        current_operation_id: 'op9',
      });
    });
  });

  describe('health transitions', () => {
    it('becomes temporarily_unavailable after N failures and recovers on a good check', () => {
      registry.upsert(reg('a'));
      const fail = () => registry.recordHealth('a', 'http://a:5003', { ok: false, reason: 'x' }, 3);
      expect(fail()).toBe('failure');
      expect(fail()).toBe('failure');
      expect(registry.get('a')!.status).toBe(WorkerStatus.AVAILABLE);
      expect(fail()).toBe('unavailable');
      expect(registry.get('a')!.status).toBe(WorkerStatus.TEMPORARILY_UNAVAILABLE);
      expect(fail()).toBe('failure');
      const ok = registry.recordHealth(
        'a',
        'http://a:5003',
        { ok: true, report: { worker_status: WorkerActivity.IDLE, current_operation: null } },
        3,
      );
      expect(ok).toBe('recovered');
      expect(registry.get('a')).toMatchObject({
        status: WorkerStatus.AVAILABLE,
        health_check_failures: 0,
      });
    });

    it('recovers as busy when the worker reports an operation', () => {
      registry.upsert(reg('a'));
      for (let i = 0; i < 3; i++)
        registry.recordHealth('a', 'http://a:5003', { ok: false, reason: 'x' }, 3);
      registry.recordHealth(
        'a',
        'http://a:5003',
        { ok: true, report: { worker_status: WorkerActivity.BUSY, current_operation: 'op7' } },
        3,
      );
      expect(registry.get('a')).toMatchObject({
        status: WorkerStatus.BUSY,
        current_operation_id: 'op7',
      });
    });

    it('ignores a probe result for a worker that re-registered at another endpoint', () => {
      registry.upsert(reg('a'));
      expect(registry.recordHealth('a', 'http://elsewhere:1', { ok: false, reason: 'x' }, 1)).toBe(
        'gone',
      );
      expect(registry.get('a')!.health_check_failures).toBe(0);
    });

    it('removes workers removal_threshold after their last sign of life', () => {
      registry.upsert(reg('a'));
      registry.upsert(reg('b'));
      clock.advanceSeconds(200);
      registry.applyHeartbeat(
        'b',
        { status: WorkerStatus.AVAILABLE, current_operation_id: null },
        0,
      );
      clock.advanceSeconds(99);
      expect(registry.removeExpired(300_000)).toEqual([]);
      clock.advanceSeconds(1);
      expect(registry.removeExpired(300_000).map((w) => w.worker_id)).toEqual(['a']);
      expect(registry.get('b')).toBeDefined();
    });
  });

  it('counts by status and type', () => {
    registry.upsert(reg('a'));
    registry.upsert({ ...reg('b'), current_operation_id: 'x' });
    registry.upsert(reg('t', WorkerType.TRAINING));
    const c = registry.countsByType();
    expect(c.all).toEqual({ total: 3, available: 2, busy: 1, temporarily_unavailable: 0 });
    expect(c.by_type.backtesting).toEqual({
      total: 2,
      available: 1,
      busy: 1,
      temporarily_unavailable: 0,
    });
    expect(c.by_type.gpu_host.total).toBe(0);
  });

  it('renders ISO times in the wire record', () => {
    registry.upsert(reg('a'));
    const dto = toWorkerDto(registry.get('a')!);
    expect(dto.registered_at).toBe(new Date(clock.now()).toISOString());
    expect(dto.last_health_check).toBeNull();
    expect(dto).toMatchObject({ worker_id: 'a', status: 'available', health_check_failures: 0 });
  });
});
