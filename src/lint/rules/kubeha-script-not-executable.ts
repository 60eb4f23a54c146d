import type { Path } from '../../config/load.js';
import { programProblem, type Rule } from '../lint-model.js';
import { kubehaViews } from './kubeha-view.js';

/** A track script or notify command whose program (given by path) does not exist or is not executable here. */
export const kubehaScriptNotExecutable: Rule = {
  code: 'kubeha-script-not-executable',
  check(ctx) {
    if (ctx.host.neutral) return [];
    return kubehaViews(ctx).flatMap((v) => (v.config.vrrp?.instances ?? []).flatMap((inst, i) => {
      const at: Path = ['vrrp', 'instances', i];
      const commands = [
        ...inst.track.scripts.map((s, j) => ({ path: [...at, 'track', 'scripts', j, 'command'], command: s.command, what: `track script ${s.name}`, severity: 'error' as const,
          why: 'kubeha counts the script as failed at every run, so its weight (or FAULT) is applied on a healthy node' })),
        ...(['master', 'backup', 'fault'] as const).flatMap((state) => {
          const command = inst.notify[state];
          return command === undefined ? [] : [{ path: [...at, 'notify', state], command, what: `notify.${state}`, severity: 'warning' as const,
            why: `the hook never runs when ${inst.name} becomes ${state}, so whatever it should do (move routes, page someone) does not happen` }];
        }),
      ];
      return commands.flatMap((c) => {
        const program = c.command.trim().split(/\s+/)[0] ?? '';
        const problem = programProblem(program, ctx.host);
        return problem ? v.report(this.code, c.severity, [c.path], `${c.what} of ${inst.name} runs ${program}, which ${problem}`, c.why, `install ${program} and chmod 755 it (owned by root)`) : [];
      });
    }));
  },
};
