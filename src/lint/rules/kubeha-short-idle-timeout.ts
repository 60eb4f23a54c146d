import { formatDuration } from '../../config/duration.js';
import type { Rule } from '../lint-model.js';
import { apiserverBackends, kubehaViews } from './kubeha-view.js';

/**
 * The shortest idle timeout that never cuts a watch the apiserver keeps: kube-apiserver ends a
 * watch after a random 30-60 min (--min-request-timeout 1800s), and a quiet one sends nothing meanwhile.
 */
const WATCH_IDLE_MS = 3_600_000;

/** `idleTimeout` below an hour in front of apiservers. */
export const kubehaShortIdleTimeout: Rule = {
  code: 'kubeha-short-idle-timeout',
  check(ctx) {
    return kubehaViews(ctx).flatMap((v) => apiserverBackends(v.config).flatMap(({ backend: b, index: i }) => {
      if (b.idleTimeout >= WATCH_IDLE_MS) return [];
      return v.report(this.code, 'warning', [['backends', i, 'idleTimeout']], `backend ${b.name} closes sessions idle for ${formatDuration(b.idleTimeout)} (idleTimeout)`,
        'kubectl, kubelet and controller watches can sit quiet for minutes (the apiserver keeps one open 30-60 min); kubeha cuts them at this timeout, and every client re-lists and re-watches',
        `idleTimeout: 1h (the default) or more`);
    }));
  },
};
