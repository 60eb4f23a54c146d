// Moving a kubelet or kube-proxy to the VIP: only `clusters[].cluster.server` of its kubeconfig
// changes, structurally (a YAML document edit: comments, order, credentials and every other field
// stay as they were), never with sed — kubespray's regex edit and the guides' `sed -i` rewrite any
// line that happens to contain the old address. Pure: text in, text out.
import { isMap, isScalar, isSeq, parseDocument, type YAMLMap } from 'yaml';

/** The outcome of a rewrite: the new text, and which clusters changed (empty: nothing to do). */
export type ServerRewrite =
  | { ok: true; text: string; changed: { cluster: string; from: string; to: string }[] }
  | { ok: false; error: string };

/**
 * Points the clusters of `kubeconfig` at `server` (`https://VIP:6443`). `only`: the names of the
 * clusters to change (default: every cluster whose server is one of `from`, or every cluster when
 * `from` is empty). A kubeconfig that is not one (no clusters list, a cluster without a server) is
 * refused rather than guessed at.
 */
export function rewriteKubeconfigServer(kubeconfig: string, server: string, from: string[] = []): ServerRewrite {
  const doc = parseDocument(kubeconfig, { keepSourceTokens: true });
  if (doc.errors.length > 0) return { ok: false, error: `not valid YAML: ${doc.errors[0]!.message}` };
  const clusters = doc.get('clusters');
  if (!isSeq(clusters) || clusters.items.length === 0) return { ok: false, error: 'no clusters: list (is it a kubeconfig?)' };
  const changed: { cluster: string; from: string; to: string }[] = [];
  const edits: [number, number][] = [];
  for (const item of clusters.items) {
    if (!isMap(item)) return { ok: false, error: 'a clusters entry is not a mapping' };
    const name = String(item.get('name') ?? '');
    const cluster = item.get('cluster');
    if (!isMap(cluster)) return { ok: false, error: `cluster ${name || '(unnamed)'} has no cluster: mapping` };
    const node = (cluster as YAMLMap).get('server', true);
    if (!isScalar(node) || typeof node.value !== 'string' || !node.range) return { ok: false, error: `cluster ${name || '(unnamed)'} has no server` };
    const current = node.value;
    if (from.length > 0 && !from.includes(current)) continue;
    if (current === server) continue;
    edits.push([node.range[0], node.range[1]]);
    changed.push({ cluster: name, from: current, to: server });
  }
  // The value is replaced where it stands in the text: every other byte of the file stays.
  let text = kubeconfig;
  const value = /^[A-Za-z0-9:/._\[\]-]+$/.test(server) ? server : JSON.stringify(server);
  for (const [start, end] of edits.sort((a, b) => b[0] - a[0])) text = text.slice(0, start) + value + text.slice(end);
  return { ok: true, text, changed };
}
