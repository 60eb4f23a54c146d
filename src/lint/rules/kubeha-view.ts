// kubeha.yaml as the lint rules see it: the config kubeha's own loader validated (or, when parts of
// it were refused, what is left of it), with the file's lines.
import type { ConfigAnalysis, Path } from '../../config/load.js';
import type { BackendConfig, Config } from '../../config/schema.js';
import { APISERVER_PORTS, finding, portOf, type Finding, type LintContext } from '../lint-model.js';

/** One kubeha.yaml given to lint or check. */
export interface KubehaView {
  file: string;
  config: Config;
  analysis: ConfigAnalysis;
  /**
   * A finding at the first of `paths` (key paths of `config`), or none when one of them lies where
   * the loader dropped or defaulted a refused value: the rule would judge what the user did not write.
   */
  report(code: string, severity: Finding['severity'], paths: Path[], what: string, why: string, fix: string): Finding[];
}

/** Every kubeha.yaml with a config to look at. */
export function kubehaViews(ctx: LintContext): KubehaView[] {
  return ctx.files.flatMap((f) => {
    const analysis = f.kubeha;
    if (!analysis?.config) return [];
    return [{
      file: f.path, config: analysis.config, analysis,
      report: (code, severity, paths, what, why, fix) => (paths.some((p) => analysis.repaired(p)) ? []
        : [finding(code, severity, f.path, analysis.locate(paths[0] ?? []).line, what, why, fix)]),
    }];
  });
}

/** A backend in front of apiservers: one of its servers, or a frontend using it, is on an apiserver port. */
export function apiserverBackends(config: Config): { backend: BackendConfig; index: number }[] {
  return config.backends.flatMap((backend, index) => {
    const serves = backend.servers.some((s) => APISERVER_PORTS.has(portOf(s.address) ?? 0))
      || config.frontends.some((f) => f.backend === backend.name && APISERVER_PORTS.has(portOf(f.bind) ?? 0));
    return serves ? [{ backend, index }] : [];
  });
}
