// The one model of the health check haproxy really runs for the servers of a backend or listen
// section: which check method wins, the HTTP request it sends, what it expects back, whether it
// speaks TLS, on which port, how often. The importer and the haproxy lint rules both read it, so
// what `kubeha import` writes and what `kubeha lint` says about one backend never disagree.
// Pure: a parsed section (with its defaults section) in, a description out.
//
// Sources, haproxy 3.x (github.com/haproxy/haproxy, doc/configuration.txt and src/tcpcheck.c):
// - The check options replace one another: each of `option httpchk`, `ssl-hello-chk`, `tcp-check`,
//   `ldap-check`, `mysql-check`, `pgsql-check`, `redis-check`, `smtpchk`, `spop-check` and
//   `external-check` starts with `curpx->options2 &= ~PR_O2_CHK_ANY` and points the proxy at its
//   own ruleset (src/tcpcheck.c do_parse_*_opt), so only the last one written runs;
//   configuration.txt states no rule of its own beyond listing them as alternatives ("See also").
// - A section without a check option inherits its defaults section's method and ruleset
//   (src/proxy.c: `curproxy->tcpcheck.rs = defproxy->tcpcheck.rs`).
// - http-check rules are kept per section; once a section writes one, its own ruleset replaces the
//   inherited one (src/tcpcheck.c do_parse_httpcheck). When the method that wins is not httpchk,
//   haproxy warns "uses http-check rules without 'option httpchk', so the rules are ignored"
//   (src/proxy.c).
// - configuration.txt "option httpchk": the request defaults to `OPTIONS / HTTP/1.0`; "http-check
//   send" fills in meth/uri/ver/hdr; the implicit send of `option httpchk` "must be merged with
//   the first explicit http-check send rule" (src/tcpcheck.c tcpcheck_add_http_rule).
// - configuration.txt "http-check expect": without one, "responses 2xx and 3xx are considered
//   valid"; `status <codes>` is "a comma-separated list of status codes or range codes";
//   `rstatus <regex>`; a leading `!` negates.
// - configuration.txt 5.2 "check": checks go to the server's address and port over the server's
//   transport ("SSL/TLS when "ssl" or "check-ssl" are set"); with "addr" or "port" "it is assumed
//   the server isn't checked on the service port, and configured encapsulation parameters are not
//   reused". "http-check connect ... ssl" opens a ciphered connection; "default" uses the server
//   line's options.
// - configuration.txt "inter": "If left unspecified, the delay defaults to 2000 ms"; "timeout
//   check": "If set, HAProxy uses min("timeout connect", "inter") as a connect timeout for check
//   and "timeout check" as an additional read timeout ... If "timeout check" is not set HAProxy
//   uses "inter" for complete check timeout (connect + read)".
import type { Directive } from './conf-tree.js';
import { APISERVER_PORTS, haproxyMs, portOf, type HapProxy } from './lint-model.js';

/** The option names that pick a check method (configuration.txt 4.2). */
const CHECK_OPTIONS = new Set(['httpchk', 'ssl-hello-chk', 'tcp-check', 'ldap-check', 'mysql-check', 'pgsql-check', 'redis-check', 'smtpchk', 'spop-check', 'external-check']);

/** Ports that speak only TLS: the apiserver's, and 443. Plain HTTP to one fails every check. */
export const TLS_ONLY_PORTS = new Set([...APISERVER_PORTS, 443]);

/** What haproxy checks: a connect, a TLS hello, an HTTP exchange, a tcp-check script, or a protocol check. */
export type HapCheckMethod = 'connect' | 'ssl-hello-chk' | 'httpchk' | 'tcp-check' | 'protocol';

/** The request an httpchk sends. */
export interface HapHttpRequest {
  method: string;
  uri: string;
  version: string;
  host: string | undefined;
}

/** An `http-check expect` rule. */
export interface HapExpect {
  line: number;
  negate: boolean;
  /** `status`, `rstatus`, `string`, `rstring`, `hdr`, ... */
  match: string;
  pattern: string;
  /** The status codes it accepts, for status and rstatus; undefined for the others. */
  statuses: number[] | undefined;
}

/** One server's check: where it goes and over what. */
export interface HapServerCheck {
  server: Directive;
  name: string;
  address: string;
  /** `check` on the server line or a default-server line; haproxy never checks a server without it. */
  checked: boolean;
  /** Whether the check runs over TLS, and the keyword that made it so. */
  tls: boolean;
  tlsFrom: string | undefined;
  /** The port checked: http-check/tcp-check connect port, the server's `port`, else its address's. */
  port: number | undefined;
  /** `addr`: checks go to another address. */
  addr: string | undefined;
  verify: string | undefined;
  caFile: string | undefined;
  sni: string | undefined;
  interMs: number;
  fastinterMs: number | undefined;
  downinterMs: number | undefined;
  rise: number;
  fall: number;
  /** The whole check's timeout as haproxy computes it. */
  timeoutMs: number;
  /** Every server keyword with its value (last one written wins), for the importer. */
  settings: Map<string, string | true>;
}

/** The health check of one backend/listen section, as haproxy runs it. */
export interface HapCheck {
  method: HapCheckMethod;
  /** The option line that chose the method; undefined when none is written (a connect check). */
  option: Directive | undefined;
  /** The check options of the section that decides (its own, else its defaults'), in order; only the last runs. */
  written: Directive[];
  /** http-check rules of the ruleset in use; when the method is not httpchk, haproxy ignores them. */
  httpRules: Directive[];
  ignoredHttpRules: Directive[];
  /** tcp-check rules, for method tcp-check. */
  tcpRules: Directive[];
  /** The first request of an httpchk, and how many it sends (a multi-step ruleset sends several). */
  request: HapHttpRequest | undefined;
  requests: number;
  /** The expect rule of the first request; undefined: 2xx and 3xx pass. */
  expect: HapExpect | undefined;
  /** The first connect rule of the ruleset in use (http-check connect or tcp-check connect). */
  connect: Directive | undefined;
  servers: HapServerCheck[];
}

/** Server keywords that take a value (configuration.txt 5.2); the others are flags. */
const VALUED = new Set([
  'addr', 'agent-addr', 'agent-inter', 'agent-port', 'agent-send', 'alpn', 'ca-file', 'check-alpn', 'check-proto', 'check-sni', 'ciphers', 'ciphersuites',
  'cookie', 'crl-file', 'crt', 'downinter', 'error-limit', 'fall', 'fastinter', 'id', 'init-addr', 'init-state', 'inter', 'log-proto', 'max-reuse', 'maxconn',
  'maxqueue', 'minconn', 'namespace', 'observe', 'on-error', 'on-marked-down', 'on-marked-up', 'pool-low-conn', 'pool-max-conn', 'pool-purge-delay', 'port',
  'proto', 'redir', 'resolve-net', 'resolve-opts', 'resolve-prefer', 'resolvers', 'rise', 'shard', 'slowstart', 'sni', 'source', 'ssl-max-ver',
  'ssl-min-ver', 'tcp-ut', 'track', 'verify', 'verifyhost', 'weight', 'ws', 'health-check', 'guid', 'hash-key', 'set-proxy-v2-tlv-fmt',
]);

/** The keywords of default-server and server lines, in the order haproxy applies them; the last one wins. */
function serverSettings(lines: string[][]): Map<string, string | true> {
  const out = new Map<string, string | true>();
  for (const args of lines) {
    for (let i = 0; i < args.length; i++) {
      const k = args[i]!;
      if (VALUED.has(k)) out.set(k, args[++i] ?? '');
      else if (k.startsWith('no-') && k !== 'no-verifyhost') out.delete(k.slice(3));
      else out.set(k, true);
    }
  }
  return out;
}

/** The option name of a check option line (`option httpchk GET /` → `httpchk`), else undefined. */
const checkOption = (d: Directive) => (d.name === 'option' && CHECK_OPTIONS.has(d.args[0] ?? '') ? d.args[0] : undefined);

/** Status codes 100..599 that `rule` accepts (status lists, ranges, rstatus regexes, `!`). */
function expectedStatuses(negate: boolean, match: string, pattern: string): number[] | undefined {
  const all = Array.from({ length: 500 }, (_, i) => 100 + i);
  let hit: (c: number) => boolean;
  if (match === 'status') {
    const parts = pattern.split(',').map((p) => /^(\d{3})(?:-(\d{3}))?$/.exec(p.trim()));
    if (parts.some((m) => !m)) return undefined;
    hit = (c) => parts.some((m) => c >= Number(m![1]) && c <= Number(m![2] ?? m![1]));
  } else if (match === 'rstatus') {
    let re: RegExp;
    try {
      re = new RegExp(pattern);
    } catch {
      return undefined;
    }
    hit = (c) => re.test(String(c));
  } else return undefined;
  return all.filter((c) => hit(c) !== negate);
}

/** Words of an `http-check expect` line → the rule (its options like `min-recv 5` or `comment x` skipped). */
function parseExpect(d: Directive): HapExpect {
  const args = d.args.slice(1);
  const OPTS = new Set(['min-recv', 'comment', 'ok-status', 'error-status', 'tout-status', 'on-success', 'on-error', 'status-code']);
  let i = 0;
  while (i < args.length && OPTS.has(args[i]!)) i += 2;
  let negate = false;
  if (args[i] === '!') {
    negate = true;
    i++;
  } else if (args[i]?.startsWith('!')) {
    negate = true;
    args[i] = args[i]!.slice(1);
  }
  const match = args[i] ?? '';
  const pattern = args.slice(i + 1).join(' ');
  return { line: d.line, negate, match, pattern, statuses: expectedStatuses(negate, match, pattern) };
}

/** `key value` pairs of an `http-check connect` / `send` line. */
function words(d: Directive, from: number, valued: Set<string>): Map<string, string | true> {
  const out = new Map<string, string | true>();
  for (let i = from; i < d.args.length; i++) {
    const k = d.args[i]!;
    if (valued.has(k)) out.set(k, d.args[++i] ?? '');
    else out.set(k, true);
  }
  return out;
}

const CONNECT_VALUED = new Set(['port', 'addr', 'sni', 'alpn', 'proto', 'comment']);

/** The effective health check of a backend or listen section `p`. */
export function hapCheck(p: HapProxy): HapCheck {
  const own = p.directive.children;
  const inherited = p.defaults?.children ?? [];
  const ownOptions = own.filter(checkOption);
  const written = ownOptions.length > 0 ? ownOptions : inherited.filter(checkOption);
  const option = written[written.length - 1];
  const name = option ? checkOption(option)! : undefined;
  const method: HapCheckMethod = !name ? 'connect' : name === 'httpchk' || name === 'ssl-hello-chk' || name === 'tcp-check' ? name : 'protocol';

  // http-check rules: the section's own ruleset once it writes one, else the inherited one
  const isHttpRule = (d: Directive) => (d.name === 'http-check' && d.args[0] !== 'disable-on-404' && d.args[0] !== 'send-state') || checkOption(d) === 'httpchk';
  const httpScope = own.some(isHttpRule) ? own : inherited;
  const httpLines = httpScope.filter(isHttpRule);
  const httpRules = httpLines.filter((d) => d.name === 'http-check');
  const tcpScope = own.some((d) => d.name === 'tcp-check') ? own : inherited;
  const tcpRules = tcpScope.filter((d) => d.name === 'tcp-check');

  let request: HapHttpRequest | undefined;
  let requests = 0;
  let expect: HapExpect | undefined;
  if (method === 'httpchk') {
    const req: HapHttpRequest = { method: 'OPTIONS', uri: '/', version: 'HTTP/1.0', host: undefined };
    let firstSendSeen = false;
    for (const d of httpLines) {
      if (d.name === 'option') {
        // option httpchk [<uri>] | <method> <uri> [<version> [<host>]]
        const a = d.args.slice(1);
        if (a.length === 1) req.uri = a[0]!;
        else if (a.length >= 2) {
          req.method = a[0]!;
          req.uri = a[1]!;
          if (a[2]) req.version = a[2];
          if (a[3]) req.host = a[3];
        }
      } else if (d.args[0] === 'send') {
        requests++;
        if (firstSendSeen) continue;
        firstSendSeen = true;
        const w = words(d, 1, new Set(['meth', 'uri', 'uri-lf', 'ver', 'body', 'body-lf', 'comment']));
        if (typeof w.get('meth') === 'string') req.method = w.get('meth') as string;
        const uri = w.get('uri') ?? w.get('uri-lf');
        if (typeof uri === 'string') req.uri = uri;
        if (typeof w.get('ver') === 'string') req.version = w.get('ver') as string;
        const hdr = d.args.findIndex((x, i) => x === 'hdr' && d.args[i + 1]?.toLowerCase() === 'host');
        if (hdr >= 0) req.host = d.args[hdr + 2];
      } else if (d.args[0] === 'expect' && requests <= 1 && !expect) {
        expect = parseExpect(d);
      }
    }
    request = req;
    requests = Math.max(1, requests);
  }
  const rules = method === 'httpchk' ? httpRules : method === 'tcp-check' ? tcpRules : [];
  const connect = rules.find((d) => d.args[0] === 'connect');
  const connectWords = connect ? words(connect, 1, CONNECT_VALUED) : undefined;

  const defaultServers = [...inherited, ...own].filter((d) => d.name === 'default-server').map((d) => d.args);
  const timeoutCheck = p.timeouts.get('check')?.ms;
  const timeoutConnect = p.timeouts.get('connect')?.ms;
  const servers = p.servers.map((s): HapServerCheck => {
    const settings = serverSettings([...defaultServers, s.args.slice(2)]);
    const str = (k: string) => (typeof settings.get(k) === 'string' ? (settings.get(k) as string) : undefined);
    const num = (k: string) => (str(k) !== undefined && /^\d+$/.test(str(k)!) ? Number(str(k)) : undefined);
    const ms = (k: string) => haproxyMs(str(k));
    const ownPort = num('port');
    const addr = str('addr');
    // configuration.txt 5.2 "check": with addr or port, the server's ssl is not reused for checks
    const serverTls: [boolean, string | undefined] = settings.has('check-ssl') ? [true, 'check-ssl']
      : settings.has('ssl') && ownPort === undefined && addr === undefined ? [true, 'ssl'] : [false, undefined];
    let [tls, tlsFrom] = serverTls;
    let port = ownPort ?? portOf(s.args[1]);
    if (connectWords) {
      // "http-check connect ... default": the server line's options; otherwise only what the rule says
      const useDefault = connectWords.has('default');
      const ssl = connectWords.has('ssl');
      [tls, tlsFrom] = ssl ? [true, `${connect!.name} connect ssl`] : useDefault ? serverTls : [false, undefined];
      const cp = connectWords.get('port');
      if (typeof cp === 'string' && /^\d+$/.test(cp)) port = Number(cp);
    }
    const interMs = ms('inter') ?? 2000;
    return {
      server: s, name: s.args[0] ?? '', address: s.args[1] ?? '', checked: settings.has('check'),
      tls, tlsFrom, port, addr: (typeof connectWords?.get('addr') === 'string' ? (connectWords.get('addr') as string) : undefined) ?? addr,
      verify: str('verify'), caFile: str('ca-file'), sni: str('check-sni') ?? (typeof connectWords?.get('sni') === 'string' ? (connectWords.get('sni') as string) : undefined),
      interMs, fastinterMs: ms('fastinter'), downinterMs: ms('downinter'), rise: num('rise') ?? 2, fall: num('fall') ?? 3,
      timeoutMs: timeoutCheck !== undefined ? Math.min(timeoutConnect ?? interMs, interMs) + timeoutCheck : interMs,
      settings,
    };
  });
  return {
    method, option, written, httpRules, ignoredHttpRules: method === 'httpchk' ? [] : httpRules, tcpRules,
    request, requests: method === 'httpchk' ? requests : 0, expect, connect, servers,
  };
}

/** Whether a tcp-check ruleset only connects (no send/expect): then it is a connect check too. */
function tcpCheckOnlyConnects(c: HapCheck): boolean {
  return c.tcpRules.every((d) => d.args[0] === 'connect' || d.args[0] === 'comment');
}

/**
 * What a server's check proves, in words the lint rules and the importer's notes share:
 * `TCP connects`, `TLS handshakes`, `plain HTTP GET /healthz`, `HTTPS GET /readyz`,
 * `tcp-check send/expect`, `option mysql-check`.
 */
export function describeCheck(c: HapCheck, s: HapServerCheck | undefined): string {
  const tls = s?.tls ?? false;
  switch (c.method) {
    case 'connect':
      return tls ? 'TLS handshakes' : 'TCP connects';
    case 'ssl-hello-chk':
      return 'TLS handshakes (option ssl-hello-chk)';
    case 'tcp-check':
      return tcpCheckOnlyConnects(c) ? (tls ? 'TLS handshakes' : 'TCP connects') : 'tcp-check send/expect rules';
    case 'protocol':
      return `option ${c.option?.args[0] ?? ''}`;
    case 'httpchk':
      return `${tls ? 'HTTPS' : 'plain HTTP'} ${c.request!.method} ${c.request!.uri}`;
  }
}

/** Whether the check only shows that the port answers (TCP or TLS), not that the server is ready. */
export function onlyConnects(c: HapCheck): boolean {
  return c.method === 'connect' || c.method === 'ssl-hello-chk' || (c.method === 'tcp-check' && tcpCheckOnlyConnects(c));
}
