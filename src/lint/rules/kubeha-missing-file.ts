import type { Path } from '../../config/load.js';
import type { Rule } from '../lint-model.js';
import { kubehaViews } from './kubeha-view.js';

const CHECK_TLS = 'kubeha reads it for every TLS check, so every check of this backend fails and each of its servers is marked down';
const TOKEN = 'kubeha re-reads it at every check, so every check fails and each server of this backend is marked down';

/** A file kubeha.yaml names (CA, client certificate and key, tokens) that is not on this host. */
export const kubehaMissingFile: Rule = {
  code: 'kubeha-missing-file',
  check(ctx) {
    if (ctx.host.neutral) return [];
    return kubehaViews(ctx).flatMap((v) => {
      const c = v.config;
      const files: { path: Path; file: string | undefined; why: string }[] = [
        ...c.backends.flatMap((b, i) => {
          const at: Path = ['backends', i, 'healthCheck'];
          return [
            { path: [...at, 'caFile'], file: b.healthCheck.caFile, why: CHECK_TLS },
            { path: [...at, 'certFile'], file: b.healthCheck.certFile, why: CHECK_TLS },
            { path: [...at, 'keyFile'], file: b.healthCheck.keyFile, why: CHECK_TLS },
            { path: [...at, 'bearerTokenFile'], file: b.healthCheck.bearerTokenFile, why: TOKEN },
          ];
        }),
        { path: ['admin', 'tokenFile'], file: c.admin?.tokenFile, why: 'the admin server reads it at start: the daemon does not start' },
        { path: ['admin', 'readTokenFile'], file: c.admin?.readTokenFile, why: 'the admin server reads it at start: the daemon does not start' },
        ...(['caFile', 'certFile', 'keyFile'] as const).map((k) => ({ path: ['vipElection', k], file: c.vipElection?.[k], why: 'the election cannot reach etcd over TLS, so this node never holds the VIP' })),
      ];
      return files.filter((f) => f.file !== undefined && !ctx.host.exists(f.file)).flatMap((f) =>
        v.report(this.code, 'error', [f.path], `${String(f.path.at(-1))} ${f.file} does not exist on this host`, f.why, `install ${f.file} on this host (or fix the path)`));
    });
  },
};
