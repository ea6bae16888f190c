import { createHash } from 'node:crypto';
import type { ModuleSpec } from '../config/module-spec.ts';
import type { ContainerCreateOptions } from '../engine/container-client.ts';
import type { ContainerSummary } from '../engine/engine-types.ts';

export const labelKeys = {
  managed: 'berth.managed',
  project: 'berth.project',
  module: 'berth.module',
  /** Digest of what the container was created from, to notice a docker.yaml change. */
  spec: 'berth.spec',
  /** A digest per field (fieldDigests), as JSON: what Module.drift compares docker.yaml with. */
  fields: 'berth.spec.fields',
} as const;

/** The label Swarm puts on a task's container: such a container is its service's, not a module's own. */
export const swarmTaskLabel = 'com.docker.swarm.task.id';

/** The labels that make a container berth's, for this project. */
export function ownershipLabels(project: string): Record<string, string> {
  return { [labelKeys.managed]: 'true', [labelKeys.project]: project };
}

export function moduleLabels(project: string, module: ModuleSpec): Record<string, string> {
  return { ...ownershipLabels(project), [labelKeys.module]: module.name };
}

export function isOwnedBy(labels: Record<string, string>, project: string, module: ModuleSpec): boolean {
  return Object.entries(moduleLabels(project, module)).every(([key, value]) => labels[key] === value);
}

export function specDigest(module: ModuleSpec): string {
  const { containerName, image, envs, ports, restart, resources, command, entrypoint, user, workdir, volumes, networks, healthcheck } = module;
  // Sorted, so that reordering docker.yaml does not count as a change. Keys left unset are left out (as
  // JSON leaves out undefined), so that containers made before a key existed keep their digest.
  const canonical = {
    containerName,
    image,
    envs: Object.entries(envs).sort(([a], [b]) => a.localeCompare(b)),
    ports: [...ports].sort((a, b) => a.name.localeCompare(b.name)),
    restart,
    resources: resources && { nanoCpus: resources.nanoCpus, memoryBytes: resources.memoryBytes },
    command,
    entrypoint,
    user,
    workdir,
    volumes: volumes.length > 0 ? unordered(volumes) : undefined,
    networks: networksAsJoined(networks),
    healthcheck,
    deploy: module.deploy,
  };
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex').slice(0, 16);
}

/**
 * One short digest per field of the container that docker.yaml sets, by its drift name (`image`, `envs.NAME`,
 * `ports.NAME`, `volumes`, `command`…); fields left unset are left out. Digests rather than values: a label
 * never holds an env value. Memoised per spec, since every snapshot of the module compares them.
 */
export function fieldDigests(module: ModuleSpec): Readonly<Record<string, string>> {
  let digests = fieldDigestsOf.get(module);
  if (!digests) fieldDigestsOf.set(module, (digests = computeFieldDigests(module)));
  return digests;
}

const fieldDigestsOf = new WeakMap<ModuleSpec, Readonly<Record<string, string>>>();

function computeFieldDigests(module: ModuleSpec): Record<string, string> {
  const { containerName, image, envs, ports, restart, resources, command, entrypoint, user, workdir, volumes, networks, healthcheck } = module;
  // deploy: a Swarm module's replicas, placement and rollout, which its service's labels record as its tasks' fields.
  const fields: Record<string, unknown> = { containerName, image, restart, resources, command, entrypoint, user, workdir, networks: networksAsJoined(networks), healthcheck, deploy: module.deploy };
  fields.volumes = unordered(volumes);
  for (const [name, value] of Object.entries(envs)) fields[`envs.${name}`] = [name, value];
  for (const { name, ...port } of ports) fields[`ports.${name}`] = port;
  const digests: Record<string, string> = {};
  for (const [field, value] of Object.entries(fields)) if (value !== undefined) digests[field] = shortDigest(value);
  return digests;
}

/**
 * Mounts, which the engine holds as a set, in one order: reordering docker.yaml is no change (and a list
 * already in that order keeps the digest it had).
 */
function unordered(volumes: ModuleSpec['volumes']) {
  const mounts = volumes.map(({ type, source, target, readOnly }) => ({ type, source, target, readOnly }));
  return mounts.map((mount) => [JSON.stringify(mount), mount] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, mount]) => mount);
}

/** The first network is the container's primary one (its NetworkMode); the others are joined, as a set. */
function networksAsJoined(networks: readonly string[]): readonly string[] {
  const [primary, ...others] = networks;
  return primary === undefined ? networks : [primary, ...others.sort()];
}

function shortDigest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 12);
}

/** `networks`: the engine's ids of spec.networks, in order, where names could be ambiguous; default the names. */
export function containerCreateOptions(project: string, module: ModuleSpec, networks: readonly string[] = module.networks): ContainerCreateOptions {
  const exposedPorts: Record<string, object> = {};
  const portBindings: Record<string, { HostIp?: string; HostPort: string }[]> = {};
  for (const port of module.ports) {
    const key = `${port.in}/${port.protocol}`;
    exposedPorts[key] = {};
    (portBindings[key] ??= []).push({ HostIp: port.host, HostPort: String(port.out) });
  }
  const { restart, resources, healthcheck } = module;
  const [network] = networks;
  return {
    name: module.containerName,
    Image: module.image,
    Env: Object.entries(module.envs).map(([key, value]) => `${key}=${value}`),
    Labels: { ...moduleLabels(project, module), [labelKeys.spec]: specDigest(module), [labelKeys.fields]: JSON.stringify(fieldDigests(module)) },
    ExposedPorts: exposedPorts,
    Cmd: module.command,
    Entrypoint: module.entrypoint,
    User: module.user,
    WorkingDir: module.workdir,
    Healthcheck: healthcheck && {
      Test: healthcheck.test,
      Interval: healthcheck.intervalNs,
      Timeout: healthcheck.timeoutNs,
      Retries: healthcheck.retries,
      StartPeriod: healthcheck.startPeriodNs,
    },
    HostConfig: {
      PortBindings: portBindings,
      RestartPolicy: restart && { Name: restart.name, MaximumRetryCount: restart.maximumRetryCount },
      NanoCpus: resources?.nanoCpus,
      Memory: resources?.memoryBytes,
      // Mounts rather than Binds: a bind source that is missing fails the create instead of becoming an empty folder.
      Mounts: module.volumes.map(({ type, source, target, readOnly }) => ({ Type: type, Source: source, Target: target, ReadOnly: readOnly })),
      NetworkMode: network,
    },
    // Engines before API 1.44 take one network at create; the others are joined before the first start.
    NetworkingConfig: network ? { EndpointsConfig: { [network]: { Aliases: [module.name] } } } : undefined,
  };
}

/**
 * Of the containers labelled with a module, the one that counts: its own name first (mid-update: the new one, not
 * the one aside). A Swarm task's container carries its service's labels, berth's, but is the service's: never one.
 */
export function moduleContainer<T extends Pick<ContainerSummary, 'name' | 'labels'>>(module: ModuleSpec, candidates: readonly T[]): T | undefined {
  const own = candidates.filter((container) => container.labels[swarmTaskLabel] === undefined);
  return own.find((container) => container.name === module.containerName) ?? own[0];
}
