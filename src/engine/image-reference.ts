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
