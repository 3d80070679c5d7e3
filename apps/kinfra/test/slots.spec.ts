import { ApiSettings, DatabaseSettings, SandboxSettings } from '@ktrdr/config';
import {
  PORT_BASES,
  PORT_VARIABLES,
  PROFILES,
  SLOT_COUNT,
  allSlots,
  composeProjectName,
  parseSlotArgument,
  profileForSlot,
  profileRank,
  slotPorts,
  totalWorkers,
} from '../src/slots';

describe('slot pool', () => {
  it('has six slots: 1-4 light, 5 standard, 6 heavy', () => {
    expect(SLOT_COUNT).toBe(6);
    expect(allSlots()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(allSlots().map(profileForSlot)).toEqual([
      'light',
      'light',
      'light',
      'light',
      'standard',
      'heavy',
    ]);
  });

  it('profiles carry 1+1, 2+2 and 4+4 workers, ranked light < standard < heavy', () => {
    expect(PROFILES.light).toEqual({ backtest: 1, training: 1 });
    expect(PROFILES.standard).toEqual({ backtest: 2, training: 2 });
    expect(PROFILES.heavy).toEqual({ backtest: 4, training: 4 });
    expect(totalWorkers(PROFILES.heavy)).toBe(8);
    expect(profileRank('light')).toBeLessThan(profileRank('standard'));
    expect(profileRank('standard')).toBeLessThan(profileRank('heavy'));
  });

  it.each([
    [1, { api: 8001, db: 5433, grafana: 3001, jaeger_ui: 16687, prometheus: 9091 }],
    [5, { api: 8005, db: 5437, grafana: 3005, jaeger_ui: 16691, prometheus: 9095 }],
    [6, { api: 8006, db: 5438, grafana: 3006, jaeger_ui: 16692, prometheus: 9096 }],
  ])('slot %d uses base + N ports', (slot, ports) => {
    expect(slotPorts(slot)).toEqual(ports);
  });

  it('takes the bases and their variables from the settings: the ports of the default compose stack', () => {
    expect(PORT_BASES).toEqual({
      api: ApiSettings.fields.port.default,
      db: DatabaseSettings.fields.port.default,
      grafana: SandboxSettings.fields.grafana_port.default,
      jaeger_ui: SandboxSettings.fields.jaeger_ui_port.default,
      prometheus: SandboxSettings.fields.prometheus_port.default,
    });
    expect(PORT_VARIABLES).toEqual({
      api: 'KTRDR_API_PORT',
      db: 'KTRDR_DB_PORT',
      grafana: 'KTRDR_GRAFANA_PORT',
      jaeger_ui: 'KTRDR_JAEGER_UI_PORT',
      prometheus: 'KTRDR_PROMETHEUS_PORT',
    });
  });

  it('no two slots (and no slot and the default stack) share a host port', () => {
    const used = new Map<number, string>();
    for (const [name, base] of Object.entries(PORT_BASES)) used.set(base, `default ${name}`);
    for (const slot of allSlots()) {
      for (const [name, port] of Object.entries(slotPorts(slot))) {
        expect(used.get(port)).toBeUndefined();
        used.set(port, `slot ${slot} ${name}`);
      }
    }
    expect(used.size).toBe(5 * 7);
  });

  it('rejects slot numbers outside 1..6 with a message naming the slot', () => {
    expect(() => slotPorts(0)).toThrow(/slot must be an integer from 1 to 6 \(got 0\)/);
    expect(() => profileForSlot(7)).toThrow(/got 7/);
    expect(parseSlotArgument(' 3 ')).toBe(3);
    for (const bad of ['0', '7', '1.5', 'x', '', '-1']) {
      expect(() => parseSlotArgument(bad)).toThrow(
        `slot must be an integer from 1 to 6 (got '${bad}')`,
      );
    }
  });

  it('names the compose project after the slot', () => {
    expect(composeProjectName(4)).toBe('ktrdr-slot-4');
  });
});
