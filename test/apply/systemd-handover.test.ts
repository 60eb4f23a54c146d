// The rendered kubeha.service under a real systemd (a booted Debian host): `systemctl kill
// --signal=SIGUSR2` restarts kubeha without a gap — the successor tells systemd it is the main
// process (Type=notify, NotifyAccess=all, MAINPID=), systemd never sees the service stop, and a
// client loop through the host's frontend sees no failed connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { renderKubehaUnit } from '../../src/plan/render-systemd.js';
import { bootHosts } from '../support/hosts.js';
import { until } from '../support/tcp.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const RESTARTS = 10;

/** One connection: send a line, read it back, close; resolves with an error text or undefined. */
function echoOnce(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host, port });
    let got = '';
    const timer = setTimeout(() => s.destroy(new Error('timeout')), 5000);
    s.on('connect', () => s.write('ping\n'));
    s.on('data', (d) => {
      got += d.toString();
      if (got === 'ping\n') s.end();
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got === 'ping\n' ? undefined : `got ${JSON.stringify(got)}`);
    });
    s.on('error', (err) => resolve(err.message));
  });
}

test(`kubeha.service under systemd: ${RESTARTS} SIGUSR2 restarts, MainPID moves to each successor, no restart by systemd, no failed connection`, async (t) => {
  const bed = await bootHosts(t, 1, { bindReadOnly: [process.execPath, REPO] });
  const h = bed.hosts[0]!;
  const sh = async (cmd: string) => {
    const r = await h.exec(cmd);
    assert.equal(r.code, 0, `${cmd}: ${r.stdout}${r.stderr}`);
    return r.stdout.trim();
  };
  const config = [
    'global: { shutdownGrace: 5s }',
    'frontends: [{ name: apiserver, bind: "0.0.0.0:16443", backend: apiservers }]',
    'backends: [{ name: apiservers, healthCheck: { type: tcp, interval: 1s }, servers: [{ name: echo, address: "127.0.0.1:7101" }] }]',
  ].join('\n');
  await sh(`ln -sf ${REPO}/bin/kubeha.js /usr/bin/kubeha && mkdir -p /etc/kubeha && printf '%s\\n' '${config}' > /etc/kubeha/kubeha.yaml`);
  await sh(`cat > /etc/systemd/system/kubeha.service <<'UNIT'\n${renderKubehaUnit()}UNIT`);
  await sh(`systemd-run --unit=echo-backend ${process.execPath} -e "require('net').createServer((s) => s.pipe(s)).listen(7101, '127.0.0.1')"`);
  await sh('systemctl daemon-reload && systemctl start kubeha');
  const mainPid = async () => Number(await sh('systemctl show -p MainPID --value kubeha'));
  assert.equal(await sh('systemctl is-active kubeha'), 'active', 'Type=notify: READY=1 arrived');

  const failures: string[] = [];
  let done = 0;
  let stop = false;
  const started = Date.now();
  const loop = async () => {
    while (!stop && Date.now() - started < 120_000 && done < 100_000) {
      const err = await echoOnce(h.ip, 16443);
      if (err) failures.push(err);
      done++;
    }
  };
  const loops = [loop(), loop()];
  await until(() => done >= 20, 30_000, 'the client loop to get going');
  for (let i = 1; i <= RESTARTS; i++) {
    const old = await mainPid();
    const before = done;
    await sh('systemctl kill --kill-whom=main --signal=SIGUSR2 kubeha');
    const deadline = Date.now() + 30_000;
    let now = old;
    while ((now === old || now === 0) && Date.now() < deadline) now = await mainPid();
    assert.notEqual(now, old, `restart ${i}: MainPID moved to the successor`);
    while ((await h.exec(`test -d /proc/${old}`)).code === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await sh('systemctl is-active kubeha'), 'active', `restart ${i}: the service never stopped`);
    await until(() => done >= before + 10, 30_000, `connections through successor ${i}`);
  }
  stop = true;
  await Promise.all(loops);
  t.diagnostic(`${done} connections through the host's frontend across ${RESTARTS} restarts under systemd`);
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failed connections`);
  assert.equal(await sh('systemctl show -p NRestarts --value kubeha'), '0', 'systemd restarted nothing');
  assert.equal(Number(await sh('journalctl -u kubeha -o cat | grep -c handover-complete')), RESTARTS);
  // a stop after the handovers: the main process is no child of systemd, so the unit's ExecStop
  // stops it and waits for the drain; systemd sees a clean exit, not a SIGKILL
  await sh('systemctl stop kubeha');
  const after = (await h.exec('systemctl is-active kubeha')).stdout.trim();
  assert.equal(after, 'inactive', (await h.exec('journalctl -u kubeha -o short-precise --no-pager | grep -v "\"level\"" | tail -40; journalctl -u kubeha -o cat --no-pager | grep "\"level\"" | tail -8')).stdout);
});
