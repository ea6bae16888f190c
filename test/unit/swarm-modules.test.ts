import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import type { DeploySpec } from '../../src/config/module-spec.ts';
import { DockerModuleClient } from '../../src/modules/docker-module-client.ts';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { ModuleStore } from '../../src/modules/module-store.ts';
import { serviceSpec, type SwarmModuleSpec } from '../../src/modules/service-spec.ts';
import { SwarmModules } from '../../src/modules/swarm-modules.ts';
import { berthConfig, FakeEngine, moduleSpec, project, sync } from './fake-engine.ts';

const deploy: DeploySpec = { replicas: 2, placement: [], update: { parallelism: 1, delayNs: 0, order: 'stop-first', failureAction: 'rollback', maxFailureRatio: 0 } };
const web = moduleSpec('web', { deploy }) as SwarmModuleSpec;

describe('DockerModuleClient, Swarm modules, against a fake engine', () => {
  let engine: FakeEngine;
  let store: ModuleStore;
  let reader: ModuleReader;
  let modules: DockerModuleClient;

  beforeEach(() => {
    engine = new FakeEngine();
    engine.addImage(web.image);
    store = new ModuleStore({ config: berthConfig(web) });
    reader = new ModuleReader({ docker: engine, store, project });
    // The fake makes no tasks: a start waits out this deadline, then answers the status as it is.
    modules = new DockerModuleClient({ docker: engine, store, reader, project, logger: pino({ level: 'silent' }), updateTimeoutMs: 50 });
  });

  it("creates the service on a manager, joined to the project's network, made an overlay one", async () => {
    engine.swarmMembership = { nodeId: 'n1', manager: true };
    await reader.checkManager();
    await sync(store, engine);
    await modules.start('web');
    expect(engine.calls).toContain(`networks.create ${project}_default overlay`);
    const { spec } = [...engine.servicesHeld.values()][0]!;
    expect(spec.TaskTemplate).toMatchObject({ Networks: [{ Target: `${project}_default`, Aliases: ['web'] }] });
    expect(spec.Mode).toEqual({ Replicated: { Replicas: 2 } });
  });

  it("refuses, naming what to do, to put a service on the project's network made as a bridge before the engine had Swarm modules", async () => {
    engine.swarmMembership = { nodeId: 'n1', manager: true };
    await reader.checkManager();
    await sync(store, engine);
    await engine.networks.create(`${project}_default`, { 'berth.managed': 'true', 'berth.project': project });
    await expect(modules.start('web')).rejects.toMatchObject({
      code: 'ENGINE_ERROR',
      message: `network ${project}_default is a bridge network, which the Swarm services of this engine cannot join: remove it once no container uses it (docker network rm ${project}_default), and berth makes it again as an attachable overlay network`,
    });
    expect(engine.servicesHeld.size).toBe(0);
  });

  it('refuses to start a Swarm module on an engine that is not a manager, and leaves it NOT_CREATED', async () => {
    await sync(store, engine);
    await expect(modules.start('web')).rejects.toMatchObject({ code: 'ENGINE_ERROR', message: expect.stringContaining('the Docker engine is not a Swarm manager; run `docker swarm init`') });
    expect(store.get('web')!.status).toBe('NOT_CREATED');
    expect(engine.calls.filter((call) => call.startsWith('services.') || call.startsWith('networks.'))).toEqual([]);
  });

  it('refuses the logs of a Swarm module with BAD_USER_INPUT', async () => {
    await sync(store, engine);
    await expect(modules.logs('web', { tail: 10 })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
  });
});

describe('SwarmModules.apply', () => {
  it('updates nothing of a service without drift (Swarm would redeploy every task, or never end an update that changes nothing)', async () => {
    const engine = new FakeEngine();
    engine.addImage(web.image);
    engine.swarmMembership = { nodeId: 'n1', manager: true };
    engine.nodesHeld = [{ id: 'n1', role: 'manager', state: 'ready', availability: 'active' }];
    const id = await engine.services.create(serviceSpec(project, web));
    engine.tasksHeld = [{ id: 't1', serviceId: id, slot: 1, nodeId: 'n1', state: 'running', desiredState: 'running', at: new Date() }];
    const store = new ModuleStore({ config: berthConfig(web) });
    const reader = new ModuleReader({ docker: engine, store, project });
    await reader.checkManager();
    const swarm = new SwarmModules({ docker: engine, store, reader, project, logger: pino({ level: 'silent' }), prepare: async () => [], engineName: 'the Docker engine', settleTimeoutMs: 1_000 });
    await swarm.apply(web, 10);
    expect(engine.calls.filter((call) => call.startsWith('services.update'))).toEqual([]);
  });
});
