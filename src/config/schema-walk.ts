import { configSchema } from './schema.js';

// Walks the zod schema of the config by its definitions (zod 4's `def`), for did-you-mean hints
// and for the test that every key is documented.

interface Def {
  type: string;
  innerType?: unknown;
  in?: unknown;
  element?: unknown;
  shape?: Record<string, unknown>;
}

function defOf(schema: unknown): Def | undefined {
  return (schema as { def?: Def } | undefined)?.def;
}

/** Strips default/optional/nullable/pipe wrappers down to the schema that gives the shape. */
function unwrap(schema: unknown): unknown {
  for (;;) {
    const def = defOf(schema);
    if (def && (def.type === 'default' || def.type === 'optional' || def.type === 'nullable' || def.type === 'prefault')) schema = def.innerType;
    else if (def && def.type === 'pipe') schema = def.in;
    else return schema;
  }
}

/** The keys the schema (the config's unless given) knows for the mapping at `path` (array indexes as numbers). */
export function knownKeysAt(path: readonly (string | number)[], root: unknown = configSchema): string[] {
  let schema: unknown = root;
  for (const step of path) {
    const def = defOf(unwrap(schema));
    if (typeof step === 'number' && def?.type === 'array') schema = def.element;
    else if (typeof step === 'string' && def?.type === 'object' && def.shape) schema = def.shape[step];
    else return [];
  }
  const def = defOf(unwrap(schema));
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

/** Every key path of the config, lists written `[]`: `backends[].healthCheck.interval`. */
export function allKeyPaths(root: unknown = configSchema): string[] {
  const out: string[] = [];
  const visit = (schema: unknown, prefix: string) => {
    let s = unwrap(schema);
    let def = defOf(s);
    let p = prefix;
    while (def?.type === 'array') {
      p += '[]';
      s = unwrap(def.element);
      def = defOf(s);
    }
    if (def?.type !== 'object' || !def.shape) return;
    for (const [key, child] of Object.entries(def.shape)) {
      const path = p === '' ? key : `${p}.${key}`;
      out.push(path);
      visit(child, path);
    }
  };
  visit(root, '');
  return out;
}
