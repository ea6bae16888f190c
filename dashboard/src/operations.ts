// The dashboard's operations: all of them are berth's public API (schema.graphql), nothing else.

export const moduleFields = `
  fragment DashboardModule on Module {
    name kind image engine status health containerId exitCode
    ports { name in out protocol host }
  }`;

export type ContainerStatus = 'NOT_LOADED' | 'NOT_CREATED' | 'RUNNING' | 'EXITED' | 'HANDLING';

export interface Module {
  name: string;
  kind: string;
  image: string;
  engine: string;
  status: ContainerStatus;
  health: 'NONE' | 'STARTING' | 'HEALTHY' | 'UNHEALTHY';
  containerId: string | null;
  exitCode: number | null;
  ports: { name: string; in: number; out: number; protocol: 'TCP' | 'UDP' | 'SCTP'; host: string | null }[];
}

export interface ImagePull {
  state: 'PULLING' | 'DONE' | 'FAILED';
  current: number;
  total: number;
  error: string | null;
}

export interface LogLine {
  at: string;
  stream: 'STDOUT' | 'STDERR';
  text: string;
  dropped: number;
}

export interface Reading {
  cpuPercent: number;
  memoryBytes: number;
  memoryLimitBytes: number;
  at: string;
}

/** The modules docker.yaml declares now: a reload's removals, which moduleChanged does not announce. */
export const moduleNames = 'query DashboardNames { modules { name } }';

/** Every module, whole, now and on each change: the one subscription the table lives on. */
export const modulesLive = `subscription DashboardModules { moduleChanged(initial: true) { ...DashboardModule } } ${moduleFields}`;

/** Who the token is: its role says which controls to show, so the page never tries what berth would refuse. */
export const whoAmI = 'query DashboardPrincipal { principal { name role } }';

export interface Principal {
  name: string;
  role: 'VIEWER' | 'OPERATOR';
}

export const startModule = `mutation DashboardStart($name: String!) { startModule(name: $name) { ...DashboardModule } } ${moduleFields}`;
export const stopModule = `mutation DashboardStop($name: String!) { stopModule(name: $name) { ...DashboardModule } } ${moduleFields}`;
export const restartModule = `mutation DashboardRestart($name: String!) { restartModule(name: $name) { ...DashboardModule } } ${moduleFields}`;
export const startModules = `mutation DashboardStartMany($names: [String!]!) { startModules(names: $names) { ...DashboardModule } } ${moduleFields}`;
export const stopModules = `mutation DashboardStopMany($names: [String!]!) { stopModules(names: $names) { ...DashboardModule } } ${moduleFields}`;
export const pullImage = 'mutation DashboardPull($name: String!) { pullModuleImage(name: $name) { state } }';

export const pullProgress = 'subscription DashboardPullProgress($name: String!) { imagePullProgress(name: $name) { state current total error } }';
export const logsLive = 'subscription DashboardLogs($name: String!, $tail: Int!) { moduleLogs(name: $name, tail: $tail) { at stream text dropped } }';
export const statsLive = 'subscription DashboardStats($names: [String!]) { moduleStats(names: $names) { cpuPercent memoryBytes memoryLimitBytes at } }';
