// Every Docker Engine API endpoint berth calls, and nothing more: the allowlist for a socket proxy
// in front of the engine. The integration suite runs berth through a proxy that refuses any other
// call, so this list cannot fall behind the code.

export interface EngineEndpoint {
  method: 'GET' | 'POST' | 'DELETE';
  /** The path as the Engine API documents it. */
  path: string;
  /** Matches the request path, with or without a /v1.xx version prefix, without the query. */
  pattern: RegExp;
  why: string;
}

const version = String.raw`(?:/v\d+\.\d+)?`;
const name = String.raw`[^/]+`;
/** Image references hold slashes: registry/namespace/name:tag. */
const imageName = String.raw`.+`;

const endpoint = (method: EngineEndpoint['method'], path: string, regex: string, why: string): EngineEndpoint => ({
  method,
  path,
  pattern: new RegExp(`^${version}${regex}$`),
  why,
});

export const engineEndpoints: readonly EngineEndpoint[] = [
  endpoint('GET', '/version', '/version', 'engine version, read on each connection'),
  endpoint('GET', '/_ping', '/_ping', 'the watchdog ping while events are quiet'),
  endpoint('GET', '/events', '/events', 'container and image events, the source of live status; service and node events too on a Swarm manager with Swarm modules'),
  endpoint('GET', '/containers/json', '/containers/json', "list the project's containers, filtered by berth's labels (resync)"),
  endpoint('GET', '/containers/{id}/json', `/containers/${name}/json`, 'inspect a module container'),
  endpoint('GET', '/containers/{id}/stats', `/containers/${name}/stats`, "moduleStats: one stream per running module's container, shared by its subscribers"),
  endpoint('GET', '/containers/{id}/logs', `/containers/${name}/logs`, "Module.logs and moduleLogs: read and follow a module container's log"),
  endpoint('GET', '/images/json', '/images/json', "which of docker.yaml's images are on the engine, in one call (resync)"),
  endpoint('GET', '/images/{name}/json', `/images/${imageName}/json`, "whether a module's image is on the engine"),
  endpoint('POST', '/images/load', '/images/load', 'loadImages: a docker save archive uploaded to berth, streamed to the engine'),
  endpoint('POST', '/images/create', '/images/create', "pullModuleImage: pull a module's declared image (fromImage, tag), with X-Registry-Auth from docker.yaml's registries"),
  endpoint('POST', '/containers/create', '/containers/create', "create a module's container"),
  endpoint('POST', '/containers/{id}/start', `/containers/${name}/start`, 'startModule, autostart'),
  endpoint('POST', '/containers/{id}/stop', `/containers/${name}/stop`, 'stopModule'),
  endpoint('POST', '/containers/{id}/unpause', `/containers/${name}/unpause`, 'start a paused module'),
  endpoint('POST', '/containers/{id}/rename', `/containers/${name}/rename`, "applyModule: keep the old container aside under another name until the new one is healthy, and restore it"),
  endpoint('DELETE', '/containers/{id}', `/containers/${name}`, "recreate a module's stale or dead container (force)"),
  endpoint('GET', '/networks', '/networks', "whether a module's network is there (by name) before its container is made"),
  endpoint('DELETE', '/networks/{id}', `/networks/${name}`, "remove the empty one of two networks of one name made at once by two berths (only the project's own)"),
  endpoint('POST', '/networks/create', '/networks/create', 'create <project>_default and the networks docker.yaml declares (labelled as berth\'s)'),
  endpoint('POST', '/networks/{id}/connect', `/networks/${name}/connect`, "join a new container to a module's extra networks, with its name as alias"),
  endpoint('GET', '/volumes/{name}', `/volumes/${name}`, "whether a module's named volume is there before its container is made"),
  endpoint('POST', '/volumes/create', '/volumes/create', 'create the named volumes docker.yaml declares (labelled as berth\'s)'),
  ...swarmEndpoints(),
];

/** Called only on an engine that runs Swarm modules (`deploy:`), which must be a Swarm manager. */
function swarmEndpoints(): EngineEndpoint[] {
  return [
    endpoint('GET', '/info', '/info', 'whether the engine is a Swarm manager (Swarm.ControlAvailable), before it runs Swarm modules'),
    endpoint('GET', '/services', '/services', "list the project's Swarm services, filtered by berth's labels (resync)"),
    endpoint('GET', '/services/{id}', `/services/${name}`, "inspect a Swarm module's service"),
    endpoint('POST', '/services/create', '/services/create', "create a Swarm module's service"),
    endpoint('POST', '/services/{id}/update', `/services/${name}/update`, 'scale a Swarm module (start, stop), apply docker.yaml to it, or roll it back (rollback=previous)'),
    endpoint('DELETE', '/services/{id}', `/services/${name}`, "remove a Swarm module's service"),
    endpoint('GET', '/tasks', '/tasks', "a Swarm module's tasks, the source of its status and replicas, read every 500 ms for the whole project (the engine sends no task events)"),
    endpoint('GET', '/nodes', '/nodes', 'which nodes are down: their tasks no longer run, whatever they last reported'),
  ];
}

/** The allowlisted endpoint a request is, if any. */
export function allowedEndpoint(method: string, path: string): EngineEndpoint | undefined {
  const bare = path.split('?')[0] ?? path;
  return engineEndpoints.find((candidate) => candidate.method === method && candidate.pattern.test(bare));
}
