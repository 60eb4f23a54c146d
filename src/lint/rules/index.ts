// Every lint rule, in the order findings are reported. docs/planner.md lists each code (tests check).
import type { Rule } from '../lint-model.js';
import { haproxyApiserverInsecurePort, nginxApiserverInsecurePort } from './apiserver-insecure-port.js';
import { crossCheckScriptTarget, crossLvsStackedBalancer, crossVipMismatch } from './cross-file-rules.js';
import { haproxyBindApiserverPort } from './haproxy-bind-apiserver-port.js';
import { haproxyHttpchkWithoutTls } from './haproxy-httpchk-without-tls.js';
import { haproxyModeHttp } from './haproxy-mode-http.js';
import { haproxyMultipleChecks } from './haproxy-multiple-checks.js';
import { haproxyServerWithoutCheck } from './haproxy-server-without-check.js';
import { haproxyShortTimeouts } from './haproxy-short-timeouts.js';
import { haproxyTcpOnlyCheck } from './haproxy-tcp-only-check.js';
import { keepalivedAuthPassLength } from './keepalived-auth-pass-length.js';
import { keepalivedBadVip } from './keepalived-bad-vip.js';
import { keepalivedDuplicateVrid } from './keepalived-duplicate-vrid.js';
import { keepalivedPeerMismatch } from './keepalived-peer-mismatch.js';
import { keepalivedEqualPriority } from './keepalived-equal-priority.js';
import { keepalivedLvsNatSameSubnet } from './keepalived-lvs-nat-same-subnet.js';
import { keepalivedLvsSingleRealServer } from './keepalived-lvs-single-real-server.js';
import { keepalivedLvsTcpOnlyCheck } from './keepalived-lvs-tcp-only-check.js';
import { keepalivedScriptGrepsPs } from './keepalived-script-greps-ps.js';
import { keepalivedDualStackWithoutSyncGroup, keepalivedSyncGroupUnknownInstance, keepalivedVipFamilyMismatch } from './keepalived-sync-groups.js';
import { keepalivedScriptNotExecutable } from './keepalived-script-not-executable.js';
import { keepalivedUndefinedTrackScript } from './keepalived-undefined-track-script.js';
import { keepalivedUnicastWithoutSrc } from './keepalived-unicast-without-src.js';
import { keepalivedVipOutsideSubnet } from './keepalived-vip-outside-subnet.js';
import { keepalivedWeightGap } from './keepalived-weight-gap.js';
import { nginxConnectTimeout, nginxHttpUpstream, nginxProxyTimeout } from './nginx-rules.js';
import { haproxyLocalLbWithoutCheck, nginxLocalLbPassiveOnly } from './local-lb-rules.js';
import { kubehaBindApiserverPort } from './kubeha-bind-apiserver-port.js';
import { kubehaDetectionTime } from './kubeha-detection-time.js';
import { kubehaHttpCheckOnTls } from './kubeha-http-check-on-tls.js';
import { kubehaInterfaceMissing } from './kubeha-interface-missing.js';
import { kubehaKernelIgnoredOption } from './kubeha-kernel-ignored-option.js';
import { kubehaMissingFile } from './kubeha-missing-file.js';
import { kubehaScriptNotExecutable } from './kubeha-script-not-executable.js';
import { kubehaShortIdleTimeout } from './kubeha-short-idle-timeout.js';
import { kubehaTcpOnlyCheck } from './kubeha-tcp-only-check.js';
import { kubehaVipOutsideSubnet } from './kubeha-vip-outside-subnet.js';

/**
 * Every lint rule, in the order findings are reported: keepalived.conf, haproxy.cfg, nginx.conf,
 * kubeconfigs, the cross-file ones, then kubeha.yaml's (also run by `kubeha check`).
 * Each has a case: test/lint/rules.test.ts, the kubeha-* ones test/lint/kubeha-rules.test.ts;
 * test/docs checks every code is in docs/planner.md.
 */
export const RULES: Rule[] = [
  keepalivedUndefinedTrackScript, keepalivedScriptNotExecutable, keepalivedBadVip, keepalivedVipOutsideSubnet,
  keepalivedEqualPriority, keepalivedWeightGap, keepalivedAuthPassLength, keepalivedUnicastWithoutSrc,
  keepalivedDuplicateVrid, keepalivedScriptGrepsPs, keepalivedPeerMismatch,
  keepalivedVipFamilyMismatch, keepalivedSyncGroupUnknownInstance, keepalivedDualStackWithoutSyncGroup,
  keepalivedLvsSingleRealServer, keepalivedLvsNatSameSubnet, keepalivedLvsTcpOnlyCheck,
  haproxyModeHttp, haproxyMultipleChecks, haproxyServerWithoutCheck, haproxyTcpOnlyCheck, haproxyShortTimeouts, haproxyBindApiserverPort, haproxyHttpchkWithoutTls,
  haproxyApiserverInsecurePort, haproxyLocalLbWithoutCheck,
  nginxProxyTimeout, nginxConnectTimeout, nginxHttpUpstream, nginxApiserverInsecurePort, nginxLocalLbPassiveOnly,
  crossVipMismatch, crossCheckScriptTarget, crossLvsStackedBalancer,
  kubehaHttpCheckOnTls, kubehaTcpOnlyCheck, kubehaShortIdleTimeout, kubehaDetectionTime, kubehaBindApiserverPort,
  kubehaMissingFile, kubehaScriptNotExecutable, kubehaInterfaceMissing, kubehaVipOutsideSubnet, kubehaKernelIgnoredOption,
];
