import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { z } from 'zod';
import type { ConfigIssue } from '../config/config-error.ts';

export type Path = readonly (string | number)[];

/** Turns offsets, document paths and zod issues into positioned ConfigIssues for one YAML file. */
export class Locator {
  readonly #file: string;
  readonly #doc: Document;
  readonly #lines: LineCounter;
  readonly #allowedKeys: (path: Path) => readonly string[] | undefined;

  /** `allowedKeys` names, for an unknown key, the keys its mapping takes. */
  constructor(file: string, doc: Document, lines: LineCounter, allowedKeys: (path: Path) => readonly string[] | undefined = () => undefined) {
    this.#file = file;
    this.#doc = doc;
    this.#lines = lines;
    this.#allowedKeys = allowedKeys;
  }

  position(offset: number): { line: number; column: number } {
    const { line, col } = this.#lines.linePos(offset);
    return { line, column: col };
  }

  at(offset: number, path: Path, message: string): ConfigIssue {
    return { file: this.#file, ...this.position(offset), path: path.join('.'), message };
  }

  /**
   * Points at the node the path names. A path that runs past a scalar (a bare port number
   * checked as `{ in }`) is cut back to that scalar; a missing key points at its parent mapping.
   */
  path(path: Path, message: string): ConfigIssue {
    let node: unknown = this.#doc.contents;
    let reached: Path = [];
    for (const segment of path) {
      if (!isMap(node) && !isSeq(node)) break;
      const child: unknown = node.get(segment, true);
      if (child === undefined) break;
      node = child;
      reached = [...reached, segment];
    }
    const shown = isScalar(node) ? reached : path;
    const range = (node as Node | null)?.range;
    return this.at(range?.[0] ?? 0, shown, message);
  }

  /** A strict object's unknown keys are reported one by one, each at its own key. */
  zodIssue(issue: z.core.$ZodIssue): ConfigIssue[] {
    if (issue.code === 'unrecognized_keys') {
      const parent = this.#doc.getIn(issue.path as Path, true);
      return issue.keys.map((key) => {
        const pair = isMap(parent) ? parent.items.find((item) => isScalar(item.key) && item.key.value === key) : undefined;
        const offset = (pair?.key as Node | undefined)?.range?.[0] ?? 0;
        const expected = this.#allowedKeys(issue.path as Path);
        const hint = !expected ? '' : expected.length === 0 ? '; this mapping takes no keys' : `; expected one of ${expected.join(', ')}`;
        return this.at(offset, [...(issue.path as Path), key], `unknown key "${key}"${hint}`);
      });
    }
    if (issue.code === 'invalid_key') {
      const key = issue.path.at(-1);
      const parent = this.#doc.getIn(issue.path.slice(0, -1) as Path, true);
      const pair = isMap(parent) ? parent.items.find((item) => isScalar(item.key) && item.key.value === key) : undefined;
      const offset = (pair?.key as Node | undefined)?.range?.[0] ?? 0;
      return [this.at(offset, issue.path as Path, issue.message)];
    }
    return [this.path(issue.path as Path, issue.message)];
  }
}
