import type Dockerode from 'dockerode';

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
  /** A running container's healthcheck verdict, where the list tells it. */
  health?: ContainerHealth;
}

/** The engine's `State.Health.Status`, for a container with a healthcheck. */
export type ContainerHealth = 'starting' | 'healthy' | 'unhealthy';

const containerHealths = new Set<string>(['starting', 'healthy', 'unhealthy'] satisfies ContainerHealth[]);

/** The engine's word for a container's health (inspect's, or a health_status event's): "none" and anything else is undefined. */
export function containerHealth(word: string | undefined): ContainerHealth | undefined {
  return word !== undefined && containerHealths.has(word) ? (word as ContainerHealth) : undefined;
}

export interface ContainerDetails extends ContainerSummary {
  /** The image reference the container was created from. */
  image: string;
  /** The id of the image it was made from (sha256:…); known from an inspect only. */
  imageId?: string;
  startedAt: Date | undefined;
  exitCode: number | undefined;
  /**
   * As the engine reports it: undefined without a healthcheck, and also for one that has never
   * started (the engine keeps no health before the first start). Once stopped, paused or dead the
   * engine says `unhealthy`, since it no longer runs the check.
   */
  health?: ContainerHealth;
  /**
   * Whether the container runs a healthcheck, its own or its image's, when it starts; undefined when not
   * known (a container seen only in events), which a start of it cannot tell from `health` alone.
   */
  healthcheck?: boolean;
  /** The output of the healthcheck's last run, as inspect's State.Health.Log keeps it; known from an inspect only. */
  healthOutput?: string;
  /** Whether it runs with a TTY (inspect's Config.Tty): its log is then raw text, all of it stdout. Known from an inspect only. */
  tty?: boolean;
}

export interface ImageDetails {
  /** The image id, sha256:…, which id-only image events (untag, delete, load) name. */
  id: string;
}

export interface ImageSummary extends ImageDetails {
  /** Its tags and digests as the engine prints them (familiar form: "busybox:latest", "app@sha256:…"). */
  references: string[];
}

/** The kinds of engine events berth follows: service and node events only on a Swarm manager. */
export type EngineEventType = 'container' | 'image' | 'service' | 'node';

export interface EngineEvent {
  type: EngineEventType;
  /** The action without its detail: "health_status: healthy" is "health_status". */
  action: string;
  /** What followed the action's colon, if anything: "healthy" for "health_status: healthy". */
  detail?: string;
  /** Container id, image id or reference, service id or node id. */
  id: string;
  /** Container events carry the container's labels and name here; tag events the new reference; service events its name. */
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

export interface EngineNetwork extends EngineResource {
  created: Date;
  /** bridge, overlay…: a Swarm service can join an overlay network only. */
  driver: string;
}

/** A running container's resource usage at one reading, as `docker stats` computes it (container-stats.ts). */
export interface ContainerStats {
  /** CPU time used since the previous reading, about a second before, in percent of one CPU: 200 is two CPUs' worth. */
  cpuPercent: number;
  /** Memory in use less the inactive file cache, which the kernel reclaims first. */
  memoryBytes: number;
  /** The container's memory limit; without one, the host's memory. */
  memoryLimitBytes: number;
  /** Received over all the container's interfaces since it started. */
  networkRxBytes: number;
  networkTxBytes: number;
  /** When the engine took the reading. */
  at: Date;
}

/** Which of the container's outputs a log line came from. */
export type LogStream = 'stdout' | 'stderr';

/** One line of a container's log. */
export interface LogLine {
  stream: LogStream;
  /** Without its newline (nor a carriage return before it) and without the engine's timestamp. */
  text: string;
  /** When the engine read it from the container, to the millisecond. */
  at: Date;
  /** The same moment in nanoseconds since the epoch, as the engine records it: where to open the log again without repeating a line. */
  time: bigint;
  /** Set when the engine wrote the line without a timestamp (its own error): it has the moment read before it. */
  undated?: true;
}

/** Swarm's state of a rolling update (UpdateStatus.State): absent until the service's first update. */
export type ServiceUpdateState = 'updating' | 'paused' | 'completed' | 'rollback_started' | 'rollback_paused' | 'rollback_completed';

/** A Swarm service, as berth reads it (GET /services, /services/{id}). */
export interface ServiceDetails {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** The object's version: an update names the one it read, and the engine refuses it if the service moved on. */
  version: number;
  /** How many tasks it wants; berth makes replicated services only (a service's mode is fixed at its create). */
  replicas: number;
  /** Its last rolling update or rollback, if it ever had one. */
  update?: { state: ServiceUpdateState; message?: string };
  /** The spec as the engine holds it: a scale or a restart changes only a part of it and sends it back. */
  spec: Dockerode.ServiceSpec & { Name: string };
}

/** A task's state, and the state the orchestrator wants it in (Status.State, DesiredState), in Swarm's order. */
export type TaskState =
  | 'new'
  | 'allocated'
  | 'pending'
  | 'assigned'
  | 'accepted'
  | 'preparing'
  | 'ready'
  | 'starting'
  | 'running'
  | 'complete'
  | 'shutdown'
  | 'failed'
  | 'rejected'
  | 'remove'
  | 'orphaned';

/** One task of a service: a replica's container-to-be on a node (GET /tasks; only a manager answers). */
export interface TaskDetails {
  id: string;
  serviceId: string;
  /** The replica it fills (1…replicas); a replacement takes its predecessor's. */
  slot?: number;
  /** Where the scheduler put it; unset while it waits for a node. */
  nodeId?: string;
  state: TaskState;
  desiredState: TaskState;
  /** Why it failed or was rejected, or why it waits ("no suitable node…"). */
  message?: string;
  /** When it last changed state. */
  at: Date;
}

/** A Swarm node as the manager sees it (GET /nodes). */
export interface NodeDetails {
  id: string;
  role: 'manager' | 'worker';
  /** down: its heartbeats stopped; the manager moves its tasks elsewhere. */
  state: 'unknown' | 'down' | 'ready' | 'disconnected';
  availability: 'active' | 'pause' | 'drain';
}

/** What an engine is in a Swarm (GET /info): only a manager runs services. */
export interface SwarmMembership {
  nodeId: string;
  manager: boolean;
}
