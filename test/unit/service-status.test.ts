import { describe, expect, it } from 'vitest';
import type { NodeDetails, ServiceDetails, ServiceUpdateState, TaskDetails, TaskState } from '../../src/engine/engine-types.ts';
import { serviceStatus } from '../../src/modules/service-status.ts';

const service = (replicas: number, update?: ServiceUpdateState): ServiceDetails => ({
  id: 'svc',
  name: 'tts_piper',
  labels: {},
  version: 7,
  replicas,
  update: update && { state: update },
  spec: { Name: 'tts_piper' },
});

let nextTask = 1;
/** A task of the service on a node (undefined: not placed yet): its state, then the state Swarm wants it in. */
const task = (state: TaskState, desiredState: TaskState, nodeId: string | undefined = 'manager'): TaskDetails => ({
  id: `t${nextTask++}`,
  serviceId: 'svc',
  nodeId,
  state,
  desiredState,
  at: new Date(0),
});

const node = (id: string, state: NodeDetails['state'] = 'ready'): NodeDetails => ({ id, role: id === 'manager' ? 'manager' : 'worker', state, availability: 'active' });
const upNodes = [node('manager'), node('worker')];
const workerDown = [node('manager'), node('worker', 'down')];

describe('serviceStatus', () => {
  describe('tasks that run', () => {
    it('is RUNNING when as many tasks run as wanted, on nodes that answer', () => {
      const tasks = [task('running', 'running', 'manager'), task('running', 'running', 'worker')];
      expect(serviceStatus(service(2), tasks, upNodes)).toEqual({ status: 'RUNNING', replicas: { desired: 2, running: 2 } });
    });

    it("ignores other services' tasks", () => {
      const others = [{ ...task('running', 'running'), serviceId: 'other' }, { ...task('pending', 'running'), serviceId: 'other' }];
      expect(serviceStatus(service(1), [task('running', 'running'), ...others], upNodes)).toEqual({ status: 'RUNNING', replicas: { desired: 1, running: 1 } });
    });

    it('does not count ended tasks of the history', () => {
      const history = [task('shutdown', 'shutdown'), task('failed', 'shutdown', 'worker'), task('complete', 'shutdown')];
      expect(serviceStatus(service(1), [...history, task('running', 'running', 'worker')], upNodes)).toEqual({ status: 'RUNNING', replicas: { desired: 1, running: 1 } });
    });

    it('is RUNNING, short of replicas, when Swarm gave up on a slot (restart policy spent) and nothing moves', () => {
      const tasks = [task('running', 'running'), task('failed', 'shutdown', 'worker'), task('failed', 'shutdown', 'worker')];
      expect(serviceStatus(service(2), tasks, upNodes)).toEqual({ status: 'RUNNING', replicas: { desired: 2, running: 1 } });
    });

    it("counts tasks on a node whose state is unknown (a manager that just restarted has not heard from it yet)", () => {
      const tasks = [task('running', 'running'), task('running', 'running', 'worker')];
      expect(serviceStatus(service(2), tasks, [node('manager'), node('worker', 'unknown')]).status).toBe('RUNNING');
    });
  });

  describe('tasks that move', () => {
    it('is HANDLING right after the create, before Swarm has made tasks', () => {
      expect(serviceStatus(service(2), [], upNodes)).toEqual({ status: 'HANDLING', replicas: { desired: 2, running: 0 } });
    });

    it.each<[string, TaskState, TaskState, string | undefined]>([
      ['waits for a node', 'pending', 'running', undefined],
      ['is assigned', 'assigned', 'running', 'worker'],
      ['is preparing (its image, its mounts)', 'preparing', 'running', 'worker'],
      ['is starting', 'starting', 'running', 'worker'],
      ['waits out its restart delay', 'ready', 'ready', 'worker'],
      ['failed and Swarm has not replaced it yet', 'failed', 'running', 'worker'],
      ['was rejected and Swarm has not replaced it yet', 'rejected', 'running', 'worker'],
    ])('is HANDLING while a wanted task %s', (_, state, desiredState, nodeId) => {
      const tasks = [task('running', 'running'), task(state, desiredState, nodeId)];
      expect(serviceStatus(service(2), tasks, upNodes)).toEqual({ status: 'HANDLING', replicas: { desired: 2, running: 1 } });
    });

    it('is HANDLING while a task still runs that Swarm is stopping (scale down, or a drained node)', () => {
      const tasks = [task('running', 'running'), task('running', 'shutdown', 'worker')];
      expect(serviceStatus(service(1), tasks, upNodes)).toEqual({ status: 'HANDLING', replicas: { desired: 1, running: 2 } });
    });

    it('is HANDLING in a crash loop: each failed task is replaced by one that waits, then starts', () => {
      const history = [task('failed', 'shutdown'), task('failed', 'shutdown')];
      expect(serviceStatus(service(1), [...history, task('ready', 'ready')], upNodes).status).toBe('HANDLING');
      expect(serviceStatus(service(1), [...history, task('starting', 'running')], upNodes).status).toBe('HANDLING');
    });

    it('is HANDLING while a rejected task (no such image on the node, say) is replaced', () => {
      const tasks = [task('running', 'running'), task('rejected', 'shutdown', 'worker'), task('pending', 'running', undefined)];
      expect(serviceStatus(service(2), tasks, upNodes)).toEqual({ status: 'HANDLING', replicas: { desired: 2, running: 1 } });
    });
  });

  describe('a node that is down', () => {
    it('does not count its tasks as running, whatever they last reported, and they move until replaced', () => {
      const tasks = [task('running', 'running', 'manager'), task('running', 'running', 'worker')];
      expect(serviceStatus(service(2), tasks, workerDown)).toEqual({ status: 'HANDLING', replicas: { desired: 2, running: 1 } });
    });

    it('is RUNNING again once the replacement runs elsewhere, though the lost task still reads running', () => {
      const tasks = [task('running', 'running', 'manager'), task('running', 'shutdown', 'worker'), task('running', 'running', 'manager')];
      expect(serviceStatus(service(2), tasks, workerDown)).toEqual({ status: 'RUNNING', replicas: { desired: 2, running: 2 } });
    });

    it('is HANDLING while the replacement waits for a node the placement allows (node.role==worker, the only worker down)', () => {
      const tasks = [task('running', 'shutdown', 'worker'), task('pending', 'running', undefined)];
      expect(serviceStatus(service(1), tasks, workerDown)).toEqual({ status: 'HANDLING', replicas: { desired: 1, running: 0 } });
    });

    it('counts a disconnected node, and one gone from the node list, as lost too', () => {
      const tasks = [task('running', 'running', 'manager'), task('running', 'running', 'worker')];
      expect(serviceStatus(service(2), tasks, [node('manager'), node('worker', 'disconnected')]).replicas.running).toBe(1);
      expect(serviceStatus(service(2), tasks, [node('manager')]).replicas.running).toBe(1);
    });

    it('counts a task that waits for a node (none assigned) as not lost', () => {
      expect(serviceStatus(service(1), [task('pending', 'running', undefined)], workerDown).replicas.running).toBe(0);
    });
  });

  describe('nothing that runs', () => {
    it('is EXITED at 0 replicas once every task has stopped', () => {
      expect(serviceStatus(service(0), [], upNodes)).toEqual({ status: 'EXITED', replicas: { desired: 0, running: 0 } });
      expect(serviceStatus(service(0), [task('shutdown', 'shutdown'), task('shutdown', 'shutdown', 'worker')], upNodes).status).toBe('EXITED');
    });

    it('is HANDLING at 0 replicas while tasks are still stopping', () => {
      const tasks = [task('shutdown', 'shutdown'), task('running', 'shutdown', 'worker')];
      expect(serviceStatus(service(0), tasks, upNodes)).toEqual({ status: 'HANDLING', replicas: { desired: 0, running: 1 } });
    });

    it('is EXITED when every task failed and Swarm replaces none (restart: no, or on-failure:N spent)', () => {
      const tasks = [task('failed', 'shutdown'), task('failed', 'shutdown', 'worker')];
      expect(serviceStatus(service(2), tasks, upNodes)).toEqual({ status: 'EXITED', replicas: { desired: 2, running: 0 } });
    });

    it('is EXITED when every task was rejected and none is replaced', () => {
      expect(serviceStatus(service(1), [task('rejected', 'shutdown', 'worker')], upNodes).status).toBe('EXITED');
    });

    it('is EXITED when the tasks completed (exit 0) and are not restarted (restart: on-failure)', () => {
      expect(serviceStatus(service(1), [task('complete', 'shutdown')], upNodes).status).toBe('EXITED');
    });

    it('is HANDLING, not EXITED, when the only tasks are on a lost node: Swarm will replace them', () => {
      expect(serviceStatus(service(1), [task('running', 'running', 'worker')], workerDown)).toEqual({ status: 'HANDLING', replicas: { desired: 1, running: 0 } });
    });
  });

  describe('rolling updates', () => {
    const settled = [task('running', 'running'), task('running', 'running', 'worker')];

    it.each<ServiceUpdateState>(['updating', 'rollback_started'])('is HANDLING while the update state is %s, even with every task in place', (state) => {
      expect(serviceStatus(service(2, state), settled, upNodes)).toEqual({ status: 'HANDLING', replicas: { desired: 2, running: 2 } });
    });

    it('is HANDLING during a start-first update, when the new task runs beside the old', () => {
      const tasks = [...settled, task('running', 'running')];
      expect(serviceStatus(service(2, 'updating'), tasks, upNodes)).toEqual({ status: 'HANDLING', replicas: { desired: 2, running: 3 } });
    });

    it.each<ServiceUpdateState>(['completed', 'paused', 'rollback_paused', 'rollback_completed'])('reads the tasks once the update state is %s', (state) => {
      expect(serviceStatus(service(2, state), settled, upNodes).status).toBe('RUNNING');
      expect(serviceStatus(service(2, state), [task('running', 'running'), task('starting', 'running', 'worker')], upNodes).status).toBe('HANDLING');
    });
  });
});
