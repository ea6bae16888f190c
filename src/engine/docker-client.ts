import Dockerode from 'dockerode';
import type { Logger } from 'pino';
import { DockerContainerClient, type ContainerClient } from './container-client.ts';
import type { Redact } from './engine-error.ts';
import { EngineRequests, type EngineDeadlines } from './engine-requests.ts';
import { DockerEventClient, type EventClient } from './event-client.ts';
import { DockerImageClient, type ImageClient } from './image-client.ts';
import { DockerImagePullClient, type ImagePullClient } from './image-pull-client.ts';
import { DockerLogClient, type LogClient } from './log-client.ts';
import { DockerNetworkClient, type NetworkClient } from './network-client.ts';
import { DockerServiceClient, type ServiceClient } from './service-client.ts';
import { DockerStatsClient, type StatsClient } from './stats-client.ts';
import { DockerSystemClient, type SystemClient } from './system-client.ts';
import { DockerVolumeClient, type VolumeClient } from './volume-client.ts';

/** What berth asks of a Docker engine, one client per resource; one Docker implementation, small fakes in unit tests. */
export interface DockerClient {
  readonly containers: ContainerClient;
  readonly images: ImageClient;
  readonly events: EventClient;
  readonly system: SystemClient;
  readonly networks: NetworkClient;
  readonly volumes: VolumeClient;
  readonly pulls: ImagePullClient;
  readonly stats: StatsClient;
  readonly logs: LogClient;
  /** Swarm services, tasks and nodes: only a Swarm manager engine answers them. */
  readonly services: ServiceClient;
}

export interface DockerodeClientOptions {
  /** dockerode connection options; default: from DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH as the docker CLI reads them. */
  connection?: Dockerode.DockerOptions;
  /** When a read or a change is aborted; defaults in EngineDeadlines. */
  deadlines?: EngineDeadlines;
  /** Scrubs secrets from the engine's messages; default none. */
  redact?: Redact;
  logger: Logger;
}

export class DockerodeClient implements DockerClient {
  readonly containers: ContainerClient;
  readonly images: ImageClient;
  readonly events: EventClient;
  readonly system: SystemClient;
  readonly networks: NetworkClient;
  readonly volumes: VolumeClient;
  readonly pulls: ImagePullClient;
  readonly stats: StatsClient;
  readonly logs: LogClient;
  readonly services: ServiceClient;
  /** The engine's unix socket, when it is reached through one. */
  readonly socketPath: string | undefined;

  constructor({ connection, logger, deadlines = {}, redact = (text) => text }: DockerodeClientOptions) {
    const docker = new Dockerode(connection);
    const { socketPath } = docker.modem as { socketPath?: unknown };
    this.socketPath = typeof socketPath === 'string' ? socketPath : undefined;
    const requests = new EngineRequests(docker, logger, deadlines, redact);
    this.containers = new DockerContainerClient(requests);
    this.images = new DockerImageClient(requests);
    this.events = new DockerEventClient(requests);
    this.system = new DockerSystemClient(requests);
    this.networks = new DockerNetworkClient(requests);
    this.volumes = new DockerVolumeClient(requests);
    this.pulls = new DockerImagePullClient(requests);
    this.stats = new DockerStatsClient(requests);
    this.logs = new DockerLogClient(requests);
    this.services = new DockerServiceClient(requests);
  }
}
