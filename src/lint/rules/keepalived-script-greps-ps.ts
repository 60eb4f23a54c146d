import { finding, kaScripts, scriptText, type Rule } from '../lint-model.js';

/** A check script that greps `ps` for a name that its own command line contains. */
export const keepalivedScriptGrepsPs: Rule = {
  code: 'keepalived-script-greps-ps',
  check(ctx) {
    return kaScripts(ctx).flatMap((s) => {
      const body = scriptText(s, ctx.host);
      const m = /\bps\b[^|\n]*\|\s*grep\s+(?:-\w+\s+)*["']?([\w.-]+)/.exec(body) ?? /\bpgrep\s+-f\s+["']?([\w.-]+)/.exec(body);
      if (!m || /grep\s+-v\s+grep/.test(body)) return [];
      const target = m[1]!;
      const self = s.command;
      if (!self.includes(target)) return [];
      return [finding(this.code, 'error', s.file, s.script!.line, `vrrp_script ${s.name} looks for "${target}" in ps, and its own command line (${s.program}) contains "${target}"`,
        'the check finds itself and always passes, so a node whose load balancer died keeps the VIP',
        `check the service itself: a TCP connect to the LB port (bash -c '</dev/tcp/127.0.0.1/PORT'), or killall -0 ${target}`)];
    });
  },
};
