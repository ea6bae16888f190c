import { expect, it } from 'vitest';
import { fieldDigests, specDigest } from '../../src/modules/container-spec.ts';
import { moduleSpec } from './fake-engine.ts';

const a = { entry: 'a:/a', type: 'volume' as const, source: 'p_a', target: '/a', readOnly: false };
const b = { entry: 'b:/b', type: 'volume' as const, source: 'p_b', target: '/b', readOnly: false };

it('reordering volumes or extra networks in docker.yaml is no drift and no change of spec (they are sets to the engine)', () => {
  const one = moduleSpec('web', { volumes: [a, b], networks: ['p_default', 'p_x', 'p_y'] });
  const two = moduleSpec('web', { volumes: [b, a], networks: ['p_default', 'p_y', 'p_x'] });
  expect(fieldDigests(two)).toEqual(fieldDigests(one));
  expect(specDigest(two)).toBe(specDigest(one));
});

it('another primary network is drift', () => {
  const one = moduleSpec('web', { networks: ['p_default', 'p_x'] });
  const two = moduleSpec('web', { networks: ['p_x', 'p_default'] });
  expect(fieldDigests(two).networks).not.toBe(fieldDigests(one).networks);
  expect(specDigest(two)).not.toBe(specDigest(one));
});
