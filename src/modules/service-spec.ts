import type Dockerode from 'dockerode';
import type { DeploySpec, ModuleSpec, RestartPolicy, RolloutSpec } from '../config/module-spec.ts';
import type { ServiceSpec } from '../engine/service-client.ts';
import { containerCreateOptions } from './container-spec.ts';

/** A module that docker.yaml deploys on Swarm. */
export type SwarmModuleSpec = ModuleSpec & { deploy: DeploySpec };

export function isSwarmModule(module: ModuleSpec): module is SwarmModuleSpec {
  return module.deploy !== undefined;
}

/**
 * A Swarm module's service, named as its container would be. Its tasks run the module's container as
 * container-spec.ts makes it (image, envs, berth's labels and digests, command, healthcheck, mounts, limits),
 * `replicas` of them: docker.yaml's, or 0 for a stopped module. The kernel here has no IPVS, and a virtual IP
 * needs it: replicas are found by DNS round robin (dnsrr), and ports are published on each task's node (host
 * mode), not through the routing mesh. `networks`: the ids of the module's networks (overlay ones, made by
 * ModuleResources on a manager), where the module's name is an alias as for its container; none: Swarm's default.
 */
export function serviceSpec(project: string, module: SwarmModuleSpec, replicas = module.deploy.replicas, networks: readonly string[] = []): ServiceSpec {
  const container = containerCreateOptions(project, module, []);
  const { Mounts: mounts, NanoCpus: nanoCpus, Memory: memoryBytes } = container.HostConfig ?? {};
  const { deploy } = module;
  return {
    Name: module.containerName,
    Labels: container.Labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: container.Image,
        Labels: container.Labels,
        Env: container.Env,
        // Swarm's Command replaces the image's ENTRYPOINT and Args its CMD.
        Command: module.entrypoint,
        Args: module.command,
        User: module.user,
        Dir: module.workdir,
        HealthCheck: container.Healthcheck,
        Mounts: mounts,
      },
      Resources: nanoCpus || memoryBytes ? { Limits: { NanoCPUs: nanoCpus, MemoryBytes: memoryBytes } } : undefined,
      RestartPolicy: module.restart && restartPolicy(module.restart),
      Placement: { Constraints: deploy.placement },
      Networks: networks.map((network) => ({ Target: network, Aliases: [module.name] })),
    },
    Mode: { Replicated: { Replicas: replicas } },
    UpdateConfig: rolloutConfig(deploy.update, deploy.update.failureAction),
    // A rollback that fails too stops where it is: there is nothing further back to go to.
    RollbackConfig: rolloutConfig(deploy.update, 'pause'),
    EndpointSpec: {
      Mode: 'dnsrr',
      Ports: module.ports.map(({ name, in: target, out, protocol }) => ({ Name: name, Protocol: protocol, TargetPort: target, PublishedPort: out, PublishMode: 'host' })),
    },
  };
}

/** docker.yaml's restart as Swarm's: whether a task that exits is replaced (Swarm's default: always). */
function restartPolicy({ name, maximumRetryCount }: RestartPolicy): Dockerode.TaskRestartPolicy {
  if (name === 'no') return { Condition: 'none' };
  if (name === 'on-failure') return { Condition: 'on-failure', MaxAttempts: maximumRetryCount };
  return { Condition: 'any' };
}

function rolloutConfig(rollout: RolloutSpec, failureAction: RolloutSpec['failureAction']): Dockerode.UpdateConfig {
  return {
    Parallelism: rollout.parallelism,
    Delay: rollout.delayNs,
    FailureAction: failureAction,
    Monitor: rollout.monitorNs,
    MaxFailureRatio: rollout.maxFailureRatio,
    Order: rollout.order,
  };
}
