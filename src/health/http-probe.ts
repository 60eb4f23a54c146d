import { readFile } from 'node:fs/promises';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { settleOnce, type Probe } from './probe.js';
import type { CheckCredentials, CheckTls } from './tls-options.js';

/** What an http(s) check asks for and accepts. */
export interface HttpProbeOptions {
  path: string;
  expectStatus: readonly number[];
  /** Host header; defaults to the target address. */
  host: string | undefined;
  /** File with a bearer token, re-read at every check (tokens rotate). */
  bearerTokenFile: string | undefined;
  /** TLS settings for https; undefined for plain http. */
  tls: CheckTls | undefined;
  /** Instead of `tls` and `bearerTokenFile`: read for every check (from a kubeconfig). */
  credentials?: CheckCredentials | undefined;
}

/**
 * `GET path` on a fresh connection (no keep-alive: a check must prove that new connections work);
 * passes when the status is one of `expectStatus`. An apiserver started with
 * `--anonymous-auth=false` answers 401 without a token, hence `bearerTokenFile`.
 */
export function httpProbe(opts: HttpProbeOptions): Probe {
  return async (target, signal) => {
    let token: string | undefined;
    let tls = opts.tls;
    if (opts.credentials) {
      try {
        ({ tls, token } = await opts.credentials(target.host));
      } catch (err) {
        return { ok: false, detail: err instanceof Error ? err.message : String(err) };
      }
    } else if (opts.bearerTokenFile) {
      try {
        token = (await readFile(opts.bearerTokenFile, 'utf8')).trim();
      } catch (err) {
        return { ok: false, detail: `cannot read bearerTokenFile: ${err instanceof Error ? err.message : String(err)}` };
      }
    }
    let req: ClientRequest | undefined;
    return settleOnce(signal, () => req?.destroy(), (done) => {
      const headers: Record<string, string> = { 'user-agent': 'kubeha-check', accept: '*/*' };
      if (opts.host) headers.host = opts.host;
      if (token) headers.authorization = `Bearer ${token}`;
      const common = { host: target.host, port: target.port, path: opts.path, method: 'GET', headers, agent: false as const };
      req = tls ? httpsRequest({ ...common, ...tls }) : httpRequest(common);
      req.once('response', (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        const ok = opts.expectStatus.includes(status);
        done({ ok, detail: `HTTP ${status}${ok ? '' : ` (expected ${opts.expectStatus.join(' or ')})`}` });
      });
      req.once('error', (err) => done({ ok: false, detail: `${tls ? 'https' : 'http'}: ${err.message}` }));
      req.end();
    });
  };
}
