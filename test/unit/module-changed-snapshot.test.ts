import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createBerthApp } from '../../src/graphql/app.ts';
import { localFleet, moduleSpec } from './fake-engine.ts';

const logger = pino({ level: 'silent' });

/** The first event of a subscription over SSE, through the whole app and its shared execution. */
async function firstEvent(app: ReturnType<typeof createBerthApp>, query: string): Promise<unknown> {
  const controller = new AbortController();
  const headers = { 'content-type': 'application/json', accept: 'text/event-stream' };
  const response = await app.fetch('http://berth/graphql', { method: 'POST', headers, body: JSON.stringify({ query }), signal: controller.signal });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  for (let text = ''; ; ) {
    const { value } = await reader.read();
    text += decoder.decode(value);
    const match = /data: (\{.*\})\n/.exec(text);
    if (match) {
      controller.abort();
      return JSON.parse(match[1]!);
    }
  }
}

describe("moduleChanged's opening snapshot through the shared execution", () => {
  it('shows a dependency as it is now, not as it was when an earlier subscriber got the same snapshot', async () => {
    const db = moduleSpec('db');
    const web = moduleSpec('web', { dependsOn: [{ module: 'db', condition: 'started' }] });
    const { modules, fleet } = await localFleet(db, web);
    const app = createBerthApp({ modules: fleet, logger });
    const query = 'subscription { moduleChanged(names: ["web"], initial: true) { dependsOn { module { status } } } }';
    const status = (event: unknown) => (event as { data: { moduleChanged: { dependsOn: { module: { status: string } }[] } } }).data.moduleChanged.dependsOn[0]!.module.status;
    expect(status(await firstEvent(app, query))).toBe('NOT_CREATED');
    await modules.start('db');
    expect(status(await firstEvent(app, query))).toBe('RUNNING');
  });
});
