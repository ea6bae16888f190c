import { describe, expect, it } from 'vitest';
import { containerCreateOptions, isOwnedBy } from '../../src/modules/container-spec.ts';
import { isSwarmModule, serviceSpec, type SwarmModuleSpec } from '../../src/modules/service-spec.ts';
import { moduleSpec, project } from './fake-engine.ts';

const deploy = {
  replicas: 3,
  placement: ['node.role==worker'],
  update: { parallelism: 2, delayNs: 10e9, order: 'start-first', monitorNs: 30e9, failureAction: 'rollback', maxFailureRatio: 0.25 },
} as const;

const tts: SwarmModuleSpec = moduleSpec('tts', {
  envs: { VOICE: 'en_US-lessac' },
  ports: [
    { name: 'http', in: 5000, out: 15000, protocol: 'tcp' },
    { name: 'rtp', in: 5004, out: 5004, protocol: 'udp' },
  ],
  command: ['serve', '--port', '5000'],
  entrypoint: ['/entry.sh'],
  user: '999:999',
  workdir: '/srv',
  resources: { nanoCpus: 5e8, memoryBytes: 256 * 1024 ** 2 },
  volumes: [{ entry: 'models:/models:ro', type: 'volume', source: `${project}_models`, target: '/models', readOnly: true }],
  healthcheck: { test: ['CMD', 'true'], intervalNs: 5e9, retries: 3 },
  deploy: { ...deploy, placement: [...deploy.placement], update: { ...deploy.update } },
}) as SwarmModuleSpec;

describe('serviceSpec', () => {
  const spec = serviceSpec(project, tts);
  const container = containerCreateOptions(project, tts);

  it('names the service as the container would be named, and tells Swarm modules from plain ones', () => {
    expect(spec.Name).toBe('tts_svc');
    expect(isSwarmModule(tts)).toBe(true);
    expect(isSwarmModule(moduleSpec('plain'))).toBe(false);
  });

  it("labels the service and its tasks' containers as the module's container is labelled, digests included", () => {
    expect(spec.Labels).toEqual(container.Labels);
    expect(spec.TaskTemplate).toMatchObject({ ContainerSpec: { Labels: container.Labels } });
    expect(isOwnedBy(spec.Labels ?? {}, project, tts)).toBe(true);
  });

  it("runs the module's container: image, envs, entrypoint as Command and command as Args, user, folder, healthcheck, mounts", () => {
    expect(spec.TaskTemplate).toMatchObject({
      ContainerSpec: {
        Image: 'example/tts:1',
        Env: ['VOICE=en_US-lessac'],
        Command: ['/entry.sh'],
        Args: ['serve', '--port', '5000'],
        User: '999:999',
        Dir: '/srv',
        HealthCheck: { Test: ['CMD', 'true'], Interval: 5e9, Retries: 3 },
        Mounts: [{ Type: 'volume', Source: `${project}_models`, Target: '/models', ReadOnly: true }],
      },
      Resources: { Limits: { NanoCPUs: 5e8, MemoryBytes: 256 * 1024 ** 2 } },
    });
  });

  it("wants docker.yaml's replicas, or as many as asked (0 for a stopped module), placed by its constraints", () => {
    expect(spec.Mode).toEqual({ Replicated: { Replicas: 3 } });
    expect(serviceSpec(project, tts, 0).Mode).toEqual({ Replicated: { Replicas: 0 } });
    expect(spec.TaskTemplate).toMatchObject({ Placement: { Constraints: ['node.role==worker'] } });
  });

  it("joins the networks given (the project's overlay ones), reachable there by the module's name; none: Swarm's default", () => {
    expect(serviceSpec(project, tts, 3, ['net1']).TaskTemplate).toMatchObject({ Networks: [{ Target: 'net1', Aliases: ['tts'] }] });
    expect(spec.TaskTemplate).toMatchObject({ Networks: [] });
  });

  it('rolls updates out as docker.yaml says, rolled back on failure; a failed rollback pauses', () => {
    const rollout = { Parallelism: 2, Delay: 10e9, Monitor: 30e9, MaxFailureRatio: 0.25, Order: 'start-first' };
    expect(spec.UpdateConfig).toEqual({ ...rollout, FailureAction: 'rollback' });
    expect(spec.RollbackConfig).toEqual({ ...rollout, FailureAction: 'pause' });
  });

  it('is found by DNS round robin and publishes its ports on the nodes of its tasks (no IPVS here)', () => {
    expect(spec.EndpointSpec).toEqual({
      Mode: 'dnsrr',
      Ports: [
        { Name: 'http', Protocol: 'tcp', TargetPort: 5000, PublishedPort: 15000, PublishMode: 'host' },
        { Name: 'rtp', Protocol: 'udp', TargetPort: 5004, PublishedPort: 5004, PublishMode: 'host' },
      ],
    });
  });

  it.each([
    [{ name: 'no', maximumRetryCount: 0 }, { Condition: 'none' }],
    [{ name: 'on-failure', maximumRetryCount: 3 }, { Condition: 'on-failure', MaxAttempts: 3 }],
    [{ name: 'always', maximumRetryCount: 0 }, { Condition: 'any' }],
    [{ name: 'unless-stopped', maximumRetryCount: 0 }, { Condition: 'any' }],
  ] as const)("maps restart %o to Swarm's restart policy", (restart, policy) => {
    expect(serviceSpec(project, { ...tts, restart }).TaskTemplate).toMatchObject({ RestartPolicy: policy });
  });

  it("leaves what docker.yaml leaves unset to Swarm's defaults", () => {
    const bare = serviceSpec(project, { ...moduleSpec('bare'), deploy: { ...tts.deploy, placement: [] } });
    expect(bare.TaskTemplate).toMatchObject({ RestartPolicy: undefined, Resources: undefined, ContainerSpec: { Command: undefined, Args: undefined, Mounts: [] } });
    expect(bare.EndpointSpec).toEqual({ Mode: 'dnsrr', Ports: [] });
  });
});
