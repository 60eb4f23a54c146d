import type { ErrorCode } from '../errors.js';
import type { Config } from './schema.js';

// What loading a config yields, apart from the loader (load.ts): the daemon imports this, never the
// loader, whose YAML parser and schema library it leaves to a child process (isolated-parse.ts).

/** One thing wrong with a config file, located at file:line:col. */
export interface ConfigProblem {
  code: ErrorCode;
  file: string;
  line: number;
  col: number;
  /** The key path, e.g. `backends[0].servers[1].address`. */
  path: string;
  /** What is wrong and what to do about it. */
  message: string;
}

/** The outcome of loading a config: a validated Config, or every problem found. */
export type LoadResult = { ok: true; config: Config } | { ok: false; problems: ConfigProblem[] };

/** `file:line:col: message [CODE]`, the form editors and CI logs link to. */
export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.message} [${p.code}]`;
}
