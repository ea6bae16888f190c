// Generated docker.yaml variations: berth either reads the file or reports every problem with its
// position; it never throws anything else.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, type ConfigIssue } from '../../src/config/config-error.ts';
import { parseConfig } from '../../src/config/docker-yaml.ts';

const issueLine = /^docker\.yaml:\d+:\d+ \S/;

/** Anything YAML can hold, with a bias towards the shapes docker.yaml has. */
const anyValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom('${UNSET}', '${SET}', '${SET:-x}', '$$', 'tcp', 'udp', 'sctp', 'local/img:1'),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 3 }),
  ),
})).value;

const port = fc.oneof(fc.integer({ min: -5, max: 70_000 }), fc.record({ in: fc.integer({ min: 0, max: 70_000 }), out: fc.option(fc.integer({ min: 0, max: 70_000 })), protocol: fc.constantFrom('tcp', 'udp', 'sctp', 'icmp') }, { requiredKeys: [] }), anyValue);

const moduleDeclaration = fc.record(
  {
    kind: fc.oneof(fc.constantFrom('piper', 'web', ''), anyValue),
    image: fc.oneof(fc.constantFrom('local/piper:1.2', '${SET}/x:1', '${UNSET}'), anyValue),
    autostart: fc.oneof(fc.boolean(), anyValue),
    envs: fc.oneof(fc.dictionary(fc.string({ maxLength: 10 }), fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constantFrom('${SET}', '${UNSET}', '${UNSET:-d}'))), anyValue),
    ports: fc.oneof(fc.dictionary(fc.string({ maxLength: 8 }), port, { maxKeys: 3 }), anyValue),
    extra: anyValue,
  },
  { requiredKeys: [] },
);

const document = fc.record(
  {
    project: fc.oneof(fc.constantFrom('demo', 'Bad Name', ''), anyValue),
    modules: fc.oneof(fc.dictionary(fc.oneof(fc.constantFrom('tts', 'web', 'a_b', '-x'), fc.string({ maxLength: 12 })), moduleDeclaration, { maxKeys: 4 }), anyValue),
    stray: anyValue,
  },
  { requiredKeys: ['modules'] },
);

function readOrExplain(text: string): void {
  try {
    const config = parseConfig(text, { file: 'docker.yaml', env: { SET: 'value' } });
    // Whatever it read is complete and consistent.
    for (const module of config.modules) {
      expect(module.containerName).toBe(`${module.name}_${module.kind}`);
      for (const published of module.ports) expect(published.out).toBeGreaterThanOrEqual(1);
    }
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const { message, issues } = error as ConfigError;
    for (const line of message.split('\n')) expect(line).toMatch(issueLine);
    // A position is only useful if an editor can jump to it.
    expect(issues.filter((issue) => !isInside(text, issue))).toEqual([]);
  }
}

/** Whether line:column is a place in the text: one of its lines, and a column on it or just past its end. */
function isInside(text: string, { line, column }: ConfigIssue): boolean {
  const lineText = text.split('\n')[line - 1];
  return lineText !== undefined && column >= 1 && column <= lineText.length + 1;
}

describe('docker.yaml, generated', () => {
  it('is read, or rejected with positioned problems, for any document of docker.yaml shape', () => {
    fc.assert(fc.property(document, (doc) => readOrExplain(stringify(doc))), { numRuns: 400 });
  });

  // 400 parses: seconds on a loaded 2-core machine, so more time than vitest's default 5 s.
  it('is rejected with positioned problems for any text at all', { timeout: 30_000 }, () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => readOrExplain(text)), { numRuns: 400 });
  });

  it('is rejected with positioned problems when a valid file is cut short anywhere', () => {
    const valid = 'project: demo\nmodules:\n  tts:\n    kind: piper\n    image: local/piper:1.2\n    envs:\n      KEY: ${SET}\n    ports:\n      http: 5000\n      rtp: { in: 5004, protocol: udp }\n';
    fc.assert(fc.property(fc.integer({ min: 0, max: valid.length }), (cut) => readOrExplain(valid.slice(0, cut))), { numRuns: 200 });
  });
});
