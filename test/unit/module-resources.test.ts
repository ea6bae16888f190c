import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ModuleResources } from '../../src/modules/module-resources.ts';
import { FakeEngine, moduleSpec, project } from './fake-engine.ts';

const logger = pino({ level: 'silent' });

describe('ModuleResources', () => {
  const withVolume = (name: string) => moduleSpec(name, { volumes: [{ entry: 'data:/data', type: 'volume', source: `${project}_data`, target: '/data', readOnly: false }], networks: [`${project}_default`, `${project}_backend`] });

  it('makes each network and volume once, labelled as the project\'s, for modules prepared at once', async () => {
    const engine = new FakeEngine();
    const resources = new ModuleResources({ docker: engine, project, logger });
    const ids = await Promise.all([resources.prepare(withVolume('a')), resources.prepare(withVolume('b'))]);
    expect(ids).toEqual([
      [`${project}_default`, `${project}_backend`],
      [`${project}_default`, `${project}_backend`],
    ]);
    expect(engine.calls.filter((call) => call.startsWith('networks.create')).sort()).toEqual([`networks.create ${project}_backend`, `networks.create ${project}_default`]);
    expect(engine.networksHeld.get(`${project}_default`)).toEqual({ 'berth.managed': 'true', 'berth.project': project });
    expect(engine.volumesHeld.get(`${project}_data`)).toEqual({ 'berth.managed': 'true', 'berth.project': project });
  });

  describe('a network name made twice at once by two berths', () => {
    const labels = { 'berth.managed': 'true', 'berth.project': project };
    const twoNetworks = (containers: Record<string, number>, ownLabels = labels) => {
      const engine = new FakeEngine();
      let held = [
        { id: 'younger', name: `${project}_default`, labels: ownLabels, created: new Date('2026-01-01T00:00:01Z'), driver: 'bridge' },
        { id: 'older', name: `${project}_default`, labels: ownLabels, created: new Date('2026-01-01T00:00:00Z'), driver: 'bridge' },
      ];
      engine.networks.named = async () => held;
      engine.networks.users = async (id: string) => containers[id] ?? 0;
      engine.networks.remove = async (id: string) => {
        held = held.filter((network) => network.id !== id);
        return true;
      };
      return { engine, held: () => held.map((network) => network.id) };
    };

    it('keeps the oldest when neither is used, and removes the other', async () => {
      const { engine, held } = twoNetworks({});
      expect(await new ModuleResources({ docker: engine, project, logger }).prepare(moduleSpec('a'))).toEqual(['older']);
      expect(held()).toEqual(['older']);
    });

    it('keeps the one a container uses, though younger', async () => {
      const { engine, held } = twoNetworks({ younger: 1 });
      expect(await new ModuleResources({ docker: engine, project, logger }).prepare(moduleSpec('a'))).toEqual(['younger']);
      expect(held()).toEqual(['younger']);
    });

    it('on an engine before API 1.44, looks again a moment after making it, and settles with the berth that made one at the same moment', async () => {
      const engine = new FakeEngine();
      const name = `${project}_default`;
      const theirs = { id: 'theirs', name, labels, created: new Date('2026-01-01T00:00:00Z'), driver: 'bridge' };
      let held: (typeof theirs)[] = [];
      engine.networks.named = async () => held;
      engine.networks.create = async () => {
        held = [...held, { ...theirs, id: 'ours', created: new Date('2026-01-01T00:00:00.001Z') }];
        // The other berth's network shows in the list only a moment after its making.
        setTimeout(() => (held = [theirs, ...held]), 50);
        return 'ours';
      };
      engine.networks.users = async () => 0;
      engine.networks.remove = async (id: string) => {
        held = held.filter((network) => network.id !== id);
        return true;
      };
      expect(await new ModuleResources({ docker: engine, project, logger, apiVersion: () => '1.41' }).prepare(moduleSpec('a'))).toEqual(['theirs']);
      expect(held.map((network) => network.id)).toEqual(['theirs']);
    });

    it('removes nothing it did not make, and says what to do', async () => {
      const { engine, held } = twoNetworks({}, { 'berth.managed': 'true', 'berth.project': 'someone-else' });
      await expect(new ModuleResources({ docker: engine, project, logger }).prepare(moduleSpec('a'))).rejects.toThrow(`2 networks are named ${project}_default`);
      expect(held()).toEqual(['younger', 'older']);
    });
  });
});
