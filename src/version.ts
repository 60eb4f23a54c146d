// The version of this kubeha, read once from its package.json (dist/src/version.js → ../../package.json).
import { readFileSync } from 'node:fs';

/** kubeha's version, e.g. `0.1.0`. */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
