import { SERVICE_PORTS } from '../src/harness/ports';

describe('SERVICE_PORTS', () => {
  it('holds the canonical container ports from the settings schema: backend 8000, every worker 5003', () => {
    expect(SERVICE_PORTS).toEqual({ backend: 8000, worker: 5003 });
    expect(Object.isFrozen(SERVICE_PORTS)).toBe(true);
  });
});
