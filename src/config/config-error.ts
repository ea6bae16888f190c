export interface ConfigIssue {
  file: string;
  line: number;
  column: number;
  /** Dotted path into the document, such as `modules.tts.ports.http.in`; empty for the whole file. */
  path: string;
  message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = `${issue.file}:${issue.line}:${issue.column}`;
  return issue.path ? `${where} ${issue.path}: ${issue.message}` : `${where} ${issue.message}`;
}

/** Every problem found in one configuration file, reported together. */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  /** The digest of the file's text, when it was read (readConfig). */
  digest: string | undefined;

  constructor(issues: ConfigIssue[]) {
    const sorted = [...issues].sort((a, b) => a.line - b.line || a.column - b.column);
    super(sorted.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
    this.issues = sorted;
  }
}
