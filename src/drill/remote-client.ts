// The drill's client loop on another host (`kubeha drill --from NODE`): what a kubelet on that node
// would see. A shell loop there starts a curl every period (each in the background, so a hanging
// request does not hold the next one back) and appends "START END HTTP_CODE CURL_EXIT" (the host's
// clock, ms) to a file; the drill reads what is new before it judges a step, and puts the times on
// its own clock with the skew measured over SSH. Needs curl and GNU date on that host.
import { randomBytes } from 'node:crypto';
import { ClientRecord, type ClientSample } from '../demo/client-record.js';
import type { ClientLoop } from '../demo/client-loop.js';
import { shellQuote } from '../apply/shell-quote.js';
import type { SshSession } from '../apply/ssh-transport.js';

/** curl's exit codes as the error a failed request reports (curl(1) EXIT CODES). */
const CURL_ERRORS: Record<number, string> = { 6: 'DNS', 7: 'ECONNREFUSED', 16: 'HTTP2', 28: 'TIMEOUT', 35: 'TLS', 52: 'EMPTY_REPLY', 56: 'ECONNRESET' };

/** One line of the loop's file as a sample on this machine's clock (`skewMs`: the host's clock less ours). */
export function parseRemoteSample(line: string, skewMs: number): ClientSample | undefined {
  const m = /^(\d+) (\d+) (\d{3}) (\d+)$/.exec(line.trim());
  if (!m) return undefined;
  const [start, end, http, exit] = [Number(m[1]), Number(m[2]), m[3]!, Number(m[4])];
  const ok = exit === 0 && http === '200';
  return { startMs: start - skewMs, endMs: end - skewMs, ok, ...(ok ? {} : { error: exit !== 0 ? CURL_ERRORS[exit] ?? `curl exit ${exit}` : `HTTP ${http}` }) };
}

/** The file whose existence stops the loop writing to `file`. */
export const stopFile = (file: string) => `${file}.stop`;

/**
 * The loop's shell script: one curl every period (HTTP/1.1, as the drill's own client), each in the
 * background; stops when stopFile(file) exists, or after `maxS` seconds whatever happens. (Not "when
 * its file is removed": a request still in flight would write it back and keep the loop going.)
 */
export function remoteLoopScript(file: string, url: string, periodMs: number, timeoutMs: number, maxS: number): string {
  const q = shellQuote;
  return [
    `f=${q(file)}; stop=${q(stopFile(file))}; : > "$f"; end=$(( $(date +%s) + ${maxS} ))`,
    'while [ ! -e "$stop" ] && [ "$(date +%s)" -lt "$end" ]; do',
    `  ( s=$(date +%s%3N); c=$(curl -sk --http1.1 -o /dev/null -w '%{http_code}' --max-time ${(timeoutMs / 1000).toFixed(3)} ${q(url)}); x=$?; echo "$s $(date +%s%3N) \${c:-000} $x" >> "$f" ) &`,
    `  sleep ${(periodMs / 1000).toFixed(3)}`,
    'done',
    // the requests still in flight finish (at most the timeout) before the loop exits: once it has
    // exited nothing writes to the file any more
    'wait',
  ].join('\n');
}

/** The host's clock less this machine's, from one round trip (the midpoint rule). */
async function clockSkew(s: SshSession): Promise<number> {
  const sent = Date.now();
  const r = await s.exec('date +%s%3N');
  const received = Date.now();
  return Number(r.stdout.trim()) - (sent + received) / 2;
}

/** Starts the loop on `s`'s host; its record fills in at each sync(). */
export async function startRemoteClientLoop(s: SshSession, o: { url: string; periodMs: number; timeoutMs?: number }): Promise<ClientLoop> {
  const check = await s.exec('command -v curl >/dev/null && date +%s%3N | grep -qE "^[0-9]+$"');
  if (check.code !== 0) throw new Error(`${s.target.name}: the client loop needs curl and GNU date there`);
  const timeoutMs = o.timeoutMs ?? 2000;
  const file = `/tmp/kubeha-drill-${randomBytes(4).toString('hex')}.log`;
  const skewMs = await clockSkew(s);
  const script = remoteLoopScript(file, o.url, o.periodMs, timeoutMs, 6 * 3600);
  const started = await s.exec(`nohup sh -c ${shellQuote(script)} >/dev/null 2>&1 &`);
  if (started.code !== 0) throw new Error(`${s.target.name}: the client loop did not start: ${started.stderr.trim()}`);
  const record = new ClientRecord(24 * 3600_000);
  let lines = 0;
  const sync = async () => {
    const r = await s.exec(`tail -n +${lines + 1} ${file} 2>/dev/null`, { timeoutMs: 30_000 });
    // only whole lines: the last piece is '' or a line still being written
    const whole = r.stdout.split('\n').slice(0, -1);
    lines += whole.length;
    // the loop appends as requests end: by end time, as the record expects
    const samples = whole.flatMap((l) => parseRemoteSample(l, skewMs) ?? []).sort((a, b) => a.endMs - b.endMs);
    for (const x of samples) record.add(x);
  };
  return {
    record,
    periodMs: o.periodMs,
    timeoutMs,
    // curl enforces each request's deadline there and writes its line as it ends: a deadline and a margin later, the record has them
    async settled(ms) {
      const wait = ms + timeoutMs + 500 - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await sync();
    },
    async stop() {
      // the loop ends within a period; the requests in flight write their lines within their deadline
      await s.exec(`touch ${stopFile(file)}`);
      await new Promise((r) => setTimeout(r, timeoutMs + 500));
      await sync();
      await s.exec(`rm -f ${file} ${stopFile(file)}`);
    },
  };
}
