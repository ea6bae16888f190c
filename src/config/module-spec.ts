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

export interface ModuleSpec {
  name: string;
  kind: string;
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
}

export interface BerthConfig {
  /** Scopes berth's container labels, so that two platforms can share one engine. */
  project: string;
  modules: ModuleSpec[];
  /**
   * Env values that came from `${VAR}`: secrets. berth never serves or logs env values, and
   * scrubs these from engine messages it passes on.
   */
  secrets: string[];
}
