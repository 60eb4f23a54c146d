// Parsers for the three config languages the linter reads, into one shape: a tree of directives
// with their line numbers. Pure: text in, tree out; they never throw (unbalanced braces are
// reported as a parse problem on the line where they happen).

/** One directive: `name arg arg` or `name arg { children }`. */
export interface Directive {
  name: string;
  args: string[];
  line: number;
  children: Directive[];
  /** Whether it opened a block (`{`). */
  block: boolean;
}

/** A parsed file: its directives and any structural problems. */
export interface ConfTree {
  directives: Directive[];
  problems: { line: number; message: string }[];
}

/** Splits a line into words, keeping "quoted strings" whole and dropping comments. */
function words(line: string, commentChars: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | undefined;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) {
        out.push(cur);
        cur = '';
        quote = undefined;
      } else cur += ch;
      continue;
    }
    if (commentChars.includes(ch)) break;
    if (ch === '"' || ch === "'") {
      if (cur) out.push(cur);
      cur = '';
      quote = ch;
    } else if (ch === '{' || ch === '}' || ch === ';') {
      if (cur) out.push(cur);
      cur = '';
      out.push(ch);
    } else if (/\s/.test(ch)) {
      if (cur) out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur || quote) out.push(cur);
  return out;
}

/**
 * Brace-structured configs: keepalived (`name args {`, directives end at the line end, `#` and `!`
 * comments) and nginx (directives end at `;`, `#` comments).
 */
export function parseBraced(text: string, flavor: 'keepalived' | 'nginx'): ConfTree {
  const root: Directive = { name: '', args: [], line: 0, children: [], block: true };
  const stack: Directive[] = [root];
  const problems: ConfTree['problems'] = [];
  let pending: Directive | undefined;
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = i + 1;
    for (const w of words(raw, flavor === 'keepalived' ? '#!' : '#')) {
      const top = stack[stack.length - 1]!;
      if (w === '{') {
        const d = pending ?? { name: '', args: [], line, children: [], block: true };
        d.block = true;
        if (!pending) top.children.push(d);
        stack.push(d);
        pending = undefined;
      } else if (w === '}') {
        pending = undefined;
        if (stack.length === 1) problems.push({ line, message: 'a "}" without its "{"' });
        else stack.pop();
      } else if (w === ';') {
        pending = undefined;
      } else if (pending) {
        pending.args.push(w);
      } else {
        pending = { name: w, args: [], line, children: [], block: false };
        top.children.push(pending);
      }
    }
    // keepalived directives end with the line; nginx ones continue until ";" or "{".
    if (flavor === 'keepalived') pending = undefined;
  });
  if (stack.length > 1) problems.push({ line: stack[stack.length - 1]!.line, message: `the block "${stack[stack.length - 1]!.name}" opened here is never closed` });
  return { directives: root.children, problems };
}

/**
 * haproxy.cfg: sections (`global`, `defaults`, `frontend NAME`, `backend NAME`, `listen NAME`, ...)
 * hold keyword lines; `#` comments.
 */
export function parseHaproxy(text: string): ConfTree {
  const SECTIONS = new Set(['global', 'defaults', 'frontend', 'backend', 'listen', 'peers', 'resolvers', 'userlist', 'program', 'cache', 'mailers', 'ring', 'http-errors']);
  const directives: Directive[] = [];
  let section: Directive | undefined;
  text.split('\n').forEach((raw, i) => {
    const w = words(raw, '#').filter((x) => x !== ';' && x !== '{' && x !== '}');
    if (w.length === 0) return;
    const [name = '', ...args] = w;
    if (SECTIONS.has(name) && !/^\s/.test(raw)) {
      section = { name, args, line: i + 1, children: [], block: true };
      directives.push(section);
    } else if (section) section.children.push({ name, args, line: i + 1, children: [], block: false });
    else directives.push({ name, args, line: i + 1, children: [], block: false });
  });
  return { directives, problems: [] };
}

/** Every directive named `name` at any depth. */
export function findAll(ds: Directive[], name: string): Directive[] {
  return ds.flatMap((d) => [...(d.name === name ? [d] : []), ...findAll(d.children, name)]);
}

/** The first child named `name`. */
export function child(d: Directive, name: string): Directive | undefined {
  return d.children.find((c) => c.name === name);
}
