export const portProtocols = ['tcp', 'udp', 'sctp'] as const;
export type PortProtocol = (typeof portProtocols)[number];

export interface PortSpec {
  name: string;
  /** Port inside the container. */
  in: number;
  /** Host port it is published on. */
  out: number;
  protocol: PortProtocol;
  /** The host address it is published on; undefined: every address. */
  host?: string;
}

export const restartPolicies = ['no', 'always', 'unless-stopped', 'on-failure'] as const;

/** What the engine does when the container exits; on-failure retries at most maximumRetryCount times (0: no limit). */
export interface RestartPolicy {
  name: (typeof restartPolicies)[number];
  maximumRetryCount: number;
}

export interface ResourceLimits {
  /** CPU time, in billionths of a CPU (cpus × 10⁹). */
  nanoCpus?: number;
  memoryBytes?: number;
}

/** A volume mounted into the module's container. */
export interface VolumeMount {
  /** As written in docker.yaml, for messages. */
  entry: string;
  type: 'volume' | 'bind';
  /** The engine's volume name (`<project>_<name>`), or the bind source's absolute path. */
  source: string;
  /** The path inside the container. */
  target: string;
  readOnly: boolean;
}

/** As Docker's HEALTHCHECK; durations in nanoseconds, unset ones left to the engine's defaults. */
export interface HealthcheckSpec {
  /** ["CMD", …], ["CMD-SHELL", "…"], or ["NONE"] to turn off the image's own check. */
  test: string[];
  intervalNs?: number;
  timeoutNs?: number;
  retries?: number;
  startPeriodNs?: number;
}

export const updateModes = ['manual', 'auto'] as const;
export type UpdateMode = (typeof updateModes)[number];

export const dependencyConditions = ['started', 'healthy', 'completed'] as const;
/** started: running; healthy: its healthcheck passes; completed: it ran and exited with code 0. */
export type DependencyCondition = (typeof dependencyConditions)[number];

export interface Dependency {
  module: string;
  condition: DependencyCondition;
}

export const rolloutOrders = ['stop-first', 'start-first'] as const;
export const rolloutFailureActions = ['rollback', 'pause', 'continue'] as const;

/** How Swarm replaces a service's tasks on an update (Compose's deploy.update_config); durations in nanoseconds. */
export interface RolloutSpec {
  /** Tasks replaced at once; 0: all at once. */
  parallelism: number;
  /** Wait between two batches. */
  delayNs: number;
  /** stop-first: the old task stops before its replacement starts; start-first: they overlap. */
  order: (typeof rolloutOrders)[number];
  /** How long a new task is watched for failure; undefined: Swarm's default (5 s). */
  monitorNs?: number;
  /** What Swarm does when the update fails: rollback (to the spec before it), pause it, or continue. */
  failureAction: (typeof rolloutFailureActions)[number];
  /** The share of failed tasks the update tolerates, 0 to 1. */
  maxFailureRatio: number;
}

/** A Swarm module: on a Swarm manager engine it runs as a service of `replicas` tasks rather than one container. */
export interface DeploySpec {
  replicas: number;
  /** Placement constraints, as `docker service create --constraint` takes them: "node.role==worker". */
  placement: string[];
  update: RolloutSpec;
}

export interface ModuleSpec {
  name: string;
  kind: string;
  /** The engine it runs on, by its name under docker.yaml's `engines`; `local` by default. Not part of the container. */
  engine: string;
  /** `<name>_<kind>`: the container berth creates for the module. */
  containerName: string;
  image: string;
  autostart: boolean;
  envs: Record<string, string>;
  ports: PortSpec[];
  /** Unset keys leave the image's own setting, and stay out of the spec digest. */
  restart?: RestartPolicy;
  resources?: ResourceLimits;
  /** Replaces the image's CMD. */
  command?: string[];
  /** Replaces the image's ENTRYPOINT. */
  entrypoint?: string[];
  user?: string;
  workdir?: string;
  volumes: VolumeMount[];
  /** The engine networks it joins, `<project>_default` first, with the module's name as its alias on each. */
  networks: string[];
  healthcheck?: HealthcheckSpec;
  /**
   * manual: drift waits for applyModule; auto: berth applies it itself (when the image moves, and on reload).
   * Not part of the container, nor of its digest.
   */
  update: UpdateMode;
  /** Modules to bring to a condition before this one starts; not part of the container, nor of its digest. */
  dependsOn: Dependency[];
  /** Set for a Swarm module (docker.yaml's `deploy:`). */
  deploy?: DeploySpec;
}

/** How berth signs in to a registry to pull from it. Both are secrets, never served or logged. */
export interface RegistryCredentials {
  username: string;
  password: string;
}

/** The engine modules run on unless they name another: the one DOCKER_HOST names, as the docker CLI reads it. */
export const defaultEngine = 'local';

/** A client certificate to sign in to an engine over tcp://, with the CA that signed the engine's: absolute file paths. */
export interface EngineTls {
  ca: string;
  cert: string;
  key: string;
}

/** An engine berth drives, as docker.yaml's `engines` names it. */
export interface EngineSpec {
  name: string;
  /** unix:///path, tcp://host:port or ssh://user@host[:port]; unset only for `local`: then DOCKER_HOST and friends. */
  host?: string;
  tls?: EngineTls;
}

export interface BerthConfig {
  /** Scopes berth's container labels, so that two platforms can share one engine. */
  project: string;
  /** Every engine, `local` first, whether or not a module runs on it. */
  engines: EngineSpec[];
  modules: ModuleSpec[];
  /** The engine names of the named volumes berth creates (`<project>_<name>`). */
  volumes: string[];
  /** The engine names of the networks berth creates, `<project>_default` first. */
  networks: string[];
  /** Credentials by registry host (lowercase, `docker.io` for Docker Hub), for pulls. */
  registries: Readonly<Record<string, RegistryCredentials>>;
  /**
   * Env values and registry credentials that came from `${VAR}`, and every registry password: secrets.
   * berth never serves or logs env values or credentials, and scrubs these from engine messages it passes on.
   */
  secrets: string[];
}
