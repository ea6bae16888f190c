/**
 * An image reference in the short form the engine's events and the docker CLI print: no default
 * registry or "library/" namespace, and ":latest" where no tag or digest is given. Two references
 * name the same image exactly when their familiar forms are equal.
 */
export function familiarReference(reference: string): string {
  let name = reference.replace(/^docker\.io\//, '').replace(/^index\.docker\.io\//, '');
  if (name.startsWith('library/') && name.split('/').length === 2) name = name.slice('library/'.length);
  const lastPart = name.slice(name.lastIndexOf('/') + 1);
  return lastPart.includes(':') || lastPart.includes('@') ? name : `${name}:latest`;
}

/** Docker Hub, as references without a registry host name it. */
const dockerHub = 'docker.io';

/**
 * The reference split as the engine parses it: a first part with a "." or ":", or "localhost", is the
 * registry host (lowercase; Docker Hub's when there is none); the rest is the repository path.
 */
export function splitRegistry(reference: string): { registry: string; path: string } {
  const slash = reference.indexOf('/');
  const first = reference.slice(0, slash);
  const isHost = slash !== -1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!isHost) return { registry: dockerHub, path: reference };
  const registry = first.toLowerCase();
  return { registry: registry === 'index.docker.io' ? dockerHub : registry, path: reference.slice(slash + 1) };
}

/** The query of a pull, as the docker CLI sends it: the repository, and the tag or digest ("latest" when none). */
export function pullParameters(reference: string): { fromImage: string; tag: string } {
  const at = reference.indexOf('@');
  if (at !== -1) return { fromImage: reference.slice(0, at), tag: reference.slice(at + 1) };
  const colon = reference.lastIndexOf(':');
  const isTag = colon > reference.lastIndexOf('/');
  return isTag ? { fromImage: reference.slice(0, colon), tag: reference.slice(colon + 1) } : { fromImage: reference, tag: 'latest' };
}
