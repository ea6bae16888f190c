// The raw side of a start benchmark: a container as berth makes a module's, on a user-defined bridge
// network with an alias (every module joins `<project>_default` so), not on the engine's default
// bridge. The engine's start of a container on such a network takes longer (on the benchmark machine
// about 0.3 s more): a raw container on the default bridge would charge that to berth.
import type Dockerode from 'dockerode';

/** A user-defined bridge network of the given name: the one there, or a new one. */
async function ensureNetwork(docker: Dockerode, name: string, labels: Record<string, string>): Promise<void> {
  const [existing] = await docker.listNetworks({ filters: { name: [name] } });
  if (!existing || existing.Name !== name) await docker.createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: labels });
}

/** Created, started once and stopped, as a module's container is before a start is measured. */
export async function rawContainer(docker: Dockerode, options: { image: string; name: string; network: string; labels?: Record<string, string> }): Promise<Dockerode.Container> {
  const labels = options.labels ?? {};
  await ensureNetwork(docker, options.network, labels);
  const raw = await docker.createContainer({
    Image: options.image,
    name: options.name,
    Labels: labels,
    HostConfig: { NetworkMode: options.network },
    NetworkingConfig: { EndpointsConfig: { [options.network]: { Aliases: ['raw'] } } },
  });
  await raw.start();
  await raw.stop({ t: 0 });
  return raw;
}

/** Removes the networks of this label (`key=value`), once their containers are gone: rawContainer's, a bench project's. */
export async function removeLabelledNetworks(docker: Dockerode, label: string): Promise<void> {
  const networks = await docker.listNetworks({ filters: { label: [label] } });
  await Promise.all(networks.map((network) => removeNetwork(docker, network.Id)));
}

/** The engine lets go of a removed container's endpoint a little after the removal answers (more than 5 s once, killing forty running ones): tries for 30 s, 0.5 s apart. */
async function removeNetwork(docker: Dockerode, id: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await docker.getNetwork(id).remove();
    } catch (error) {
      if (attempt === 60 || !/active endpoints/.test(String((error as Error).message))) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}
