import { finding, kaInstances, type Rule } from '../lint-model.js';

/** auth_pass longer than 8 characters. */
export const keepalivedAuthPassLength: Rule = {
  code: 'keepalived-auth-pass-length',
  check(ctx) {
    return kaInstances(ctx).filter((i) => (i.authPass?.args[0]?.length ?? 0) > 8).map((i) =>
      finding(this.code, 'warning', i.file, i.authPass!.line, `auth_pass of ${i.name} is ${i.authPass!.args[0]!.length} characters`,
        'VRRPv2 carries 8 bytes: keepalived truncates the rest, so a peer configured with the full string by another tool rejects every advert and both nodes become MASTER',
        'use at most 8 characters')); 
  },
};
