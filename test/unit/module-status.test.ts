import { describe, expect, it } from 'vitest';
import type { EngineContainerState } from '../../src/engine/engine-types.ts';
import { containerStatuses, isStopped, moduleHealth, moduleStatus, type ContainerStatus } from '../../src/modules/module-status.ts';

describe('moduleStatus', () => {
  it.each<[EngineContainerState, ContainerStatus]>([
    ['running', 'RUNNING'],
    ['created', 'EXITED'],
    ['exited', 'EXITED'],
    ['dead', 'EXITED'],
    ['paused', 'EXITED'],
    ['restarting', 'HANDLING'],
    ['removing', 'HANDLING'],
  ])('a %s container is %s, whether or not the image is listed', (state, status) => {
    expect(moduleStatus(true, state)).toBe(status);
    expect(moduleStatus(false, state)).toBe(status);
  });

  it('is NOT_CREATED with the image and no container', () => {
    expect(moduleStatus(true, undefined)).toBe('NOT_CREATED');
  });

  it('is NOT_LOADED without image or container', () => {
    expect(moduleStatus(false, undefined)).toBe('NOT_LOADED');
  });

  it('is HANDLING for a state the engine adds later', () => {
    expect(moduleStatus(true, 'migrating' as EngineContainerState)).toBe('HANDLING');
  });
});

describe('isStopped', () => {
  it('holds for NOT_CREATED and EXITED only', () => {
    expect(containerStatuses.filter(isStopped)).toEqual(['NOT_CREATED', 'EXITED']);
  });
});

describe('containerStatuses', () => {
  it('keeps the seed numbering', () => {
    expect(containerStatuses).toEqual(['NOT_LOADED', 'NOT_CREATED', 'RUNNING', 'EXITED', 'HANDLING']);
  });
});

describe('moduleHealth', () => {
  it("is the engine's verdict, and NONE without one", () => {
    expect([moduleHealth('starting'), moduleHealth('healthy'), moduleHealth('unhealthy'), moduleHealth(undefined)]).toEqual(['STARTING', 'HEALTHY', 'UNHEALTHY', 'NONE']);
  });
});
