import { formatDuration } from '../../config/duration.js';
import type { Rule } from '../lint-model.js';
import { apiserverBackends, kubehaViews } from './kubeha-view.js';

/** Above this, a dead apiserver is served for too long. */
const DETECTION_MAX_MS = 10_000;
/** Below this, one slow check (a GC pause, an etcd leader election: about a second) takes a ready apiserver out. */
const DETECTION_MIN_MS = 1000;

/**
 * How long an up server that stops answering keeps getting new connections (docs/configuration.md,
 * healthCheck.fall): the first failed check comes within `interval`, then `fall - 1` more at `fastInterval`.
 */
function detectionMs(hc: { interval: number; fastInterval?: number | undefined; fall: number }): number {
  return hc.interval + (hc.fall - 1) * (hc.fastInterval ?? hc.interval);
}

/** `interval + (fall - 1) × fastInterval` of apiserver checks above 10 s or below 1 s. */
export const kubehaDetectionTime: Rule = {
  code: 'kubeha-detection-time',
  check(ctx) {
    return kubehaViews(ctx).flatMap((v) => apiserverBackends(v.config).flatMap(({ backend: b, index: i }) => {
      const hc = b.healthCheck;
      const ms = detectionMs(hc);
      const at = ['backends', i, 'healthCheck'];
      const paths = [[...at, 'interval'], [...at, 'fastInterval'], [...at, 'fall']];
      const how = `interval ${formatDuration(hc.interval)} + (fall ${hc.fall} - 1) × ${hc.fastInterval !== undefined ? `fastInterval ${formatDuration(hc.fastInterval)}` : 'interval'} = ${formatDuration(ms)}`;
      const fix = 'e.g. interval: 1s, fastInterval: 250ms, fall: 2 (about 1.25s)';
      if (ms > DETECTION_MAX_MS) {
        return v.report(this.code, 'warning', paths, `backend ${b.name} takes about ${formatDuration(ms)} to mark a dead apiserver down (${how})`,
          `for that long new connections still go to an apiserver that crashed or is shutting down, and fail; keep it below the apiservers' --shutdown-delay-duration`, fix);
      }
      if (ms < DETECTION_MIN_MS) {
        return v.report(this.code, 'warning', paths, `backend ${b.name} marks an apiserver down after about ${formatDuration(ms)} of failed checks (${how})`,
          'one slow /readyz (a GC pause, an etcd leader election takes about a second) takes a ready apiserver out, and all of them can flap together', `at least ${formatDuration(DETECTION_MIN_MS)}, ${fix}`);
      }
      return [];
    }));
  },
};
