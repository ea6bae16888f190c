export const portProtocols = ['tcp', 'udp', 'sctp'] as const;
export type PortProtocol = (typeof portProtocols)[number];

export interface PortSpec {
  name: string;
  /** Port inside the container. */
  in: number;
  /** Host port it is published on. */
  out: number;
  protocol: PortProtocol;
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
