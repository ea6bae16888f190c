import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { debounce } from './timing.ts';

export interface WatchFileOptions {
  /** How long the folder must be quiet before `onChange` runs; default 100 ms. */
  quietMs?: number;
  /** The folder cannot be watched (removed, or out of inotify watches): `onChange` will not run again. */
  onError: (error: Error) => void;
}

/**
 * Calls `onChange` after the file changes, once per burst of changes. The folder is watched rather than the
 * file: an editor's atomic save replaces the file by a rename, and a mounted Kubernetes ConfigMap or secret
 * swaps a `..data` symlink, neither of which a watch on the file itself sees. An editor writes several times
 * in a row, and a reader may catch a half-written file: the change after the burst reads it again whole.
 * Answers the way to stop watching.
 */
export function watchFile(file: string, onChange: () => void, { quietMs = 100, onError }: WatchFileOptions): () => void {
  const changed = debounce(onChange, quietMs);
  let watcher: FSWatcher;
  try {
    watcher = watch(dirname(file), (_event, name) => {
      if (name === null || name === basename(file) || name.startsWith('..')) changed();
    });
  } catch (error) {
    // fs.watch throws at once when the folder is missing (ENOENT) or inotify's watches are used up (ENOSPC).
    onError(error as Error);
    return () => {};
  }
  watcher.on('error', onError);
  return () => {
    changed.cancel();
    watcher.close();
  };
}
