import { createHash } from 'node:crypto';
import { parseDotenv } from '@ktrdr/config';
import { containerPorts } from '../src/container-ports';
import {
  CLIENT_ONLY_KEYS,
  envEntries,
  renderEnvFile,
  renderSlotFiles,
  slotRenderInput,
} from '../src/slot-env';
import { PROFILES, allSlots, profileForSlot } from '../src/slots';
import { interpolatedVariables, stackFor } from './support/stack-file';

function slotEnv(slot: number, secrets = false): Record<string, string> {
  const input = secrets
    ? { ...slotRenderInput(slot), api_key: 'k'.repeat(43), worker_token: 't'.repeat(43) }
    : slotRenderInput(slot);
  return parseDotenv(renderEnvFile(input));
}

describe('.env.sandbox', () => {
  it.each(allSlots())('slot %d holds its id, ports, project name and worker counts', (slot) => {
    const vars = slotEnv(slot);
    const counts = PROFILES[profileForSlot(slot)];
    expect(vars).toMatchObject({
      SLOT_ID: String(slot),
      KTRDR_API_PORT: String(8000 + slot),
      KTRDR_DB_PORT: String(5432 + slot),
      KTRDR_GRAFANA_PORT: String(3000 + slot),
      KTRDR_JAEGER_UI_PORT: String(16686 + slot),
      KTRDR_PROMETHEUS_PORT: String(9090 + slot),
      COMPOSE_PROJECT_NAME: `ktrdr-slot-${slot}`,
      BACKTEST_WORKERS: String(counts.backtest),
      TRAINING_WORKERS: String(counts.training),
    });
    expect(Object.keys(vars)).toEqual(envEntries(slotRenderInput(slot)).map(([k]) => k));
  });

  it('a slot directory holds only .env.sandbox (the stack is infra/compose)', () => {
    expect(Object.keys(renderSlotFiles(slotRenderInput(3)))).toEqual(['.env.sandbox']);
  });

  it('every variable kinfra writes for compose is one the stack file interpolates (no drift)', () => {
    const used = interpolatedVariables();
    const written = Object.keys(slotEnv(6, true)).filter((k) => !CLIENT_ONLY_KEYS.includes(k));
    expect(written.filter((k) => !used.includes(k))).toEqual([]);
  });
});

describe('the stack of a slot (infra/compose/docker-compose.yml with its .env.sandbox)', () => {
  it.each([1, 5, 6])('slot %d: host ports on 127.0.0.1, worker counts by scale', (slot) => {
    const doc = stackFor(slotEnv(slot));
    const counts = PROFILES[profileForSlot(slot)];
    expect(doc.services.backend?.ports).toEqual([`127.0.0.1:${8000 + slot}:8000`]);
    expect(doc.services.postgres?.ports).toEqual([`127.0.0.1:${5432 + slot}:5432`]);
    expect(doc.services.grafana?.ports).toEqual([`127.0.0.1:${3000 + slot}:3000`]);
    expect(doc.services.jaeger?.ports).toEqual([`127.0.0.1:${16686 + slot}:16686`]);
    expect(doc.services.prometheus?.ports).toEqual([`127.0.0.1:${9090 + slot}:9090`]);
    expect(String(doc.services['backtest-worker']?.scale)).toBe(String(counts.backtest));
    expect(String(doc.services['training-worker']?.scale)).toBe(String(counts.training));
    expect(doc.services.backend?.image).toBe('ktrdr/backend:local');
  });

  it('without a slot env the defaults are what production uses', () => {
    const doc = stackFor({});
    expect(doc.services.backend?.ports).toEqual(['127.0.0.1:8000:8000']);
    expect(String(doc.services['backtest-worker']?.scale)).toBe('2');
    expect(String(doc.services['training-worker']?.scale)).toBe('2');
  });

  it('backend and workers share the slot registration token; the backend gets the key digest only', () => {
    const doc = stackFor(slotEnv(2, true));
    expect(doc.services.backend?.environment).toMatchObject({
      KTRDR_DB_PASSWORD: 'ktrdr-sandbox-2',
      KTRDR_WORKER_REGISTRATION_TOKEN: 't'.repeat(43),
      KTRDR_API_OPERATE_KEY_SHA256: createHash('sha256').update('k'.repeat(43)).digest('hex'),
    });
    for (const w of ['backtest-worker', 'training-worker']) {
      expect(doc.services[w]?.environment?.KTRDR_WORKER_REGISTRATION_TOKEN).toBe('t'.repeat(43));
      expect(doc.services[w]?.ports).toBeUndefined();
      expect(doc.services[w]?.environment).not.toHaveProperty('KTRDR_WORKER_PORT');
    }
    expect(JSON.stringify(doc)).not.toContain('k'.repeat(43));
  });

  it('container ports in the stack file are the @ktrdr/config defaults', () => {
    const c = containerPorts();
    const doc = stackFor({});
    expect(doc.services.backend?.environment?.KTRDR_API_PORT).toBe(String(c.api));
    expect(doc.services.backend?.environment?.KTRDR_DB_PORT).toBe(String(c.db));
    expect(JSON.stringify(doc.services['backtest-worker']?.healthcheck)).toContain(`:${c.worker}/`);
  });

  it('no two slots publish the same host port', () => {
    const seen = new Map<number, number>();
    for (const slot of allSlots()) {
      const doc = stackFor(slotEnv(slot));
      for (const s of Object.values(doc.services)) {
        for (const p of s.ports ?? []) {
          const port = Number(p.split(':')[1]);
          expect(seen.get(port)).toBeUndefined();
          seen.set(port, slot);
        }
      }
    }
    expect(seen.size).toBe(6 * 5);
  });
});
