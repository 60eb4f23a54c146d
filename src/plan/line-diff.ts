// A line diff for `kubeha render --diff`: the lines only in the old text (-) and only in the new (+),
// with a little context, from a longest-common-subsequence table (rendered files are small).

/** `-`/`+`/` ` prefixed lines around the changes; empty when the texts are equal. */
export function lineDiff(oldText: string, newText: string, context = 2): string[] {
  const a = oldText.split('\n');
  const b = newText.split('\n');
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const ops: [' ' | '-' | '+', string][] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) ops.push([' ', a[i++]!]), j++;
    else if (i < n && (j >= m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) ops.push(['-', a[i++]!]);
    else ops.push(['+', b[j++]!]);
  }
  const keep = ops.map((_, k) => ops.slice(Math.max(0, k - context), k + context + 1).some(([op]) => op !== ' '));
  const out: string[] = [];
  ops.forEach(([op, line], k) => {
    if (!keep[k]) {
      if (out[out.length - 1] !== '  ...') out.push('  ...');
      return;
    }
    out.push(`${op} ${line}`);
  });
  return ops.some(([op]) => op !== ' ') ? out : [];
}
