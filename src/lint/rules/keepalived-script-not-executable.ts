import { finding, kaScripts, type Rule } from '../lint-model.js';

/** A vrrp_script whose program does not exist or is not executable. */
export const keepalivedScriptNotExecutable: Rule = {
  code: 'keepalived-script-not-executable',
  check(ctx) {
    return kaScripts(ctx).flatMap((s) => {
      const program = s.program;
      if (!program.startsWith('/')) return [];
      const exists = ctx.host.exists(program);
      if (exists && ctx.host.executable(program)) return [];
      return [finding(this.code, 'error', s.file, s.script!.line, `vrrp_script ${s.name} runs ${program}, which ${exists ? 'is not executable' : 'does not exist'}`,
        'keepalived marks the script failed (or disables it under enable_script_security), so the tracked weight or FAULT is applied on a healthy node, or never',
        `install ${program} and chmod 755 it (owned by root)`)];
    });
  },
};
