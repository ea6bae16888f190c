import { describe, expect, it } from 'vitest';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { ModuleStore } from '../../src/modules/module-store.ts';
import { berthConfig, FakeEngine, moduleSpec, project } from './fake-engine.ts';

describe('ModuleReader.everything with many modules', () => {
  it('inspects every container of a full resync, a bounded number at once, each for its own module', async () => {
    const specs = Array.from({ length: 200 }, (_, index) => moduleSpec(`m${index}`));
    const engine = new FakeEngine();
    const ids = new Map(specs.map((spec) => [spec.name, engine.addContainer(spec, 'exited').id]));
    const inspect = engine.containers.inspect;
    let underWay = 0;
    let most = 0;
    engine.containers.inspect = async (id) => {
      most = Math.max(most, ++underWay);
      // Each answer waits a turn of the event loop, as the engine's do: all would be under way at once unbounded.
      await new Promise((resolve) => setImmediate(resolve));
      underWay--;
      return inspect(id);
    };
    const store = new ModuleStore({ config: berthConfig(...specs) });
    const { observations, unread } = await new ModuleReader({ docker: engine, store, project }).everything({ full: true });
    expect(unread).toEqual([]);
    const seen = observations.flatMap((observation) => (observation.type === 'container' ? [[observation.module, observation.container?.id]] : []));
    expect(seen).toEqual(specs.map((spec) => [spec.name, ids.get(spec.name)]));
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(32);
  });
});
