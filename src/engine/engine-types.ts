/** The engine's `State.Status` of a container. */
export type EngineContainerState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface EngineVersion {
  version: string;
  apiVersion: string;
}

export interface ContainerSummary {
  id: string;
  /** Without the engine's leading "/". */
  name: string;
  state: EngineContainerState;
  labels: Record<string, string>;
}

export interface ContainerDetails extends ContainerSummary {
  /** The image reference the container was created from. */
  image: string;
  startedAt: Date | undefined;
  exitCode: number | undefined;
}

export interface ImageDetails {
  /** The image id, sha256:…, which id-only image events (untag, delete, load) name. */
  id: string;
}

export interface ImageSummary extends ImageDetails {
  /** Its tags and digests as the engine prints them (familiar form: "busybox:latest", "app@sha256:…"). */
  references: string[];
}

export interface EngineEvent {
  type: 'container' | 'image';
  /** The action without its detail: "health_status: healthy" is "health_status". */
  action: string;
  /** Container id, or image id or reference. */
  id: string;
  /** Container events carry the container's labels and name here; tag events the new reference. */
  attributes: Record<string, string>;
  /** When the engine saw it. */
  time: Date;
}

/** A network or volume, as berth looks at it: whose it is. */
export interface EngineResource {
  id: string;
  name: string;
  labels: Record<string, string>;
}
