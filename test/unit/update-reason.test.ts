import { pino } from 'pino';
import { expect, it } from 'vitest';
import { redactor } from '../../src/engine/engine-error.ts';
import { AuditLog } from '../../src/lib/audit-log.ts';
import { containerCreateOptions } from '../../src/modules/container-spec.ts';
import { DockerModuleClient } from '../../src/modules/docker-module-client.ts';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { ModuleStore } from '../../src/modules/module-store.ts';
import { berthConfig, FakeEngine, moduleSpec, project, sync } from './fake-engine.ts';

const secret = 'hunter2-password';
const old = moduleSpec('alpha', { envs: { PASSWORD: 'old-password' } });
const next = moduleSpec('alpha', { envs: { PASSWORD: secret } });

it("a rolled-back update's reason carries the new container's last log lines with the secrets scrubbed, in the error and the audit line", async () => {
  const engine = new FakeEngine();
  engine.addImage(next.image);
  const before = engine.addContainer(old, 'running', containerCreateOptions(project, old).Labels);
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
  const store = new ModuleStore({ config: berthConfig(next), logger: pino({ level: 'silent' }) });
  const reader = new ModuleReader({ docker: engine, store, project });
  const modules = new DockerModuleClient({ docker: engine, store, reader, project, logger: pino({ level: 'silent' }), audit: new AuditLog(logger), redact: redactor([secret]) });
  await sync(store, engine);
  // The new container prints its password and exits.
  const start = engine.containers.start;
  engine.containers.start = async (id) => {
    await start(id);
    if (id === before.id) return;
    engine.print(id, [`cannot log in with ${secret}`]);
    engine.setState(id, 'exited');
  };
  // berth's own apply (update: auto) is audited by the module client; a request's by the API, with the same message.
  const failure = modules.apply('alpha', { timeoutSeconds: 0, byBerth: true });
  await expect(failure).rejects.toMatchObject({ code: 'UPDATE_ROLLED_BACK' });
  const { message } = (await failure.catch((error: Error) => error)) as Error;
  expect(message).toContain('cannot log in with [secret]');
  expect(message).not.toContain(secret);
  const audit = lines.find((line) => line.includes('"operation":"applyModule"'))!;
  expect(audit).toContain('[secret]');
  expect(audit).not.toContain(secret);
});
