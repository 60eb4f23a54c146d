// kubeha apply's SSH transport (src/apply/ssh-transport.ts, ssh2) against real sshd on booted
// Debian hosts: host keys verified before anything is sent, unknown and changed keys refused with
// their fingerprints, new ones accepted only when asked, a pinned key, a jump host, many commands
// on a bounded number of channels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as tcpConnect, createServer, type Socket } from 'node:net';
import { connect, HostKeyRefused, type SshTarget } from '../../src/apply/ssh-transport.js';
import { fingerprint } from '../../src/apply/known-hosts.js';
import { bootHosts } from '../support/hosts.js';

test('ssh transport: verified connections, refusals that say why, a pinned key, a jump host, bounded channels', async (t) => {
  const bed = await bootHosts(t, 2);
  const [a, b] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0]];
  const known = readFileSync(bed.knownHosts, 'utf8');
  const target = (h: typeof a, over: Partial<SshTarget> = {}): SshTarget => ({
    name: h.name, host: h.ip, port: 22, user: 'root', identityFile: bed.keyFile, knownHosts: known, acceptNewHostKeys: false, sudo: false, ...over,
  });
  const ed = (h: typeof a) => h.hostKeys.find((k) => k.startsWith('ssh-ed25519 '))!;

  await t.test('known host: commands run, stdin reaches them, exit codes come back', async (st) => {
    const s = await connect(target(a));
    st.after(() => s.close()); // closed when this subtest ends, while the hosts still run
    assert.equal((await s.exec('hostname')).stdout.trim(), a.name);
    assert.equal((await s.exec('cat', { stdin: 'kubelet.conf\n' })).stdout, 'kubelet.conf\n');
    assert.equal((await s.exec('exit 3')).code, 3);
    assert.equal(s.acceptedKeyLine, undefined);
    // 20 commands at once on one connection: queued on a few channels, none refused by MaxSessions
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => s.exec(`echo ${i}`)));
    assert.deepEqual(many.map((r) => r.stdout.trim()), Array.from({ length: 20 }, (_, i) => String(i)));
  });

  await t.test('unknown host: refused with its fingerprint; --accept-new-host-keys connects and gives the line to record', async (st) => {
    await assert.rejects(connect(target(a, { knownHosts: '' })), (err: unknown) => {
      assert.ok(err instanceof HostKeyRefused, String(err));
      assert.equal(err.verdict.kind, 'unknown');
      assert.match(err.message, /unknown host key .*SHA256:.*--accept-new-host-keys/);
      return true;
    });
    const s = await connect(target(a, { knownHosts: '', acceptNewHostKeys: true }));
    st.after(() => s.close()); // closed when this subtest ends, while the hosts still run
    assert.ok(a.hostKeys.some((k) => s.acceptedKeyLine === `${a.ip} ${k}\n`), `${s.acceptedKeyLine}`);
  });

  await t.test('changed key (another host\'s keys filed under this address): refused, even with --accept-new-host-keys', async () => {
    const wrong = b.hostKeys.map((k) => `${a.ip} ${k}\n`).join('');
    await assert.rejects(connect(target(a, { knownHosts: wrong, acceptNewHostKeys: true })), (err: unknown) => {
      assert.ok(err instanceof HostKeyRefused, String(err));
      assert.equal(err.verdict.kind, 'changed');
      assert.match(err.message, /host key CHANGED/);
      return true;
    });
  });

  await t.test('a pinned hostKey is checked instead of known_hosts', async () => {
    const s = await connect(target(a, { knownHosts: '', hostKey: ed(a) }));
    s.close();
    await assert.rejects(connect(target(a, { knownHosts: known, hostKey: ed(b) })), (err: unknown) => err instanceof HostKeyRefused && err.message.includes(fingerprint(ed(b).split(' ')[1]!)));
  });

  await t.test('through a jump host: both host keys verified, the command runs on the far host', async (st) => {
    const s = await connect(target(b, { jumpHost: `root@${a.ip}` }));
    st.after(() => s.close()); // closed when this subtest ends, while the hosts still run
    assert.equal((await s.exec('hostname')).stdout.trim(), b.name);
    await assert.rejects(connect(target(b, { jumpHost: `root@${a.ip}`, knownHosts: b.hostKeys.map((k) => `${b.ip} ${k}\n`).join('') })), (err: unknown) => err instanceof HostKeyRefused && err.target.includes('jump host'));
  });

  await t.test('a connection cut before the handshake is tried again; a refused login is not', async (st) => {
    // a loopback relay to the host's sshd that cuts its first connection, as a busy or restarting sshd does
    let seen = 0;
    const relay = createServer((c: Socket) => {
      if (++seen === 1) return c.destroy();
      const up = tcpConnect({ host: a.ip, port: 22 });
      c.pipe(up).pipe(c);
      up.on('error', () => c.destroy());
      c.on('error', () => up.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    st.after(() => relay.close());
    const port = (relay.address() as { port: number }).port;
    const s = await connect(target(a, { host: '127.0.0.1', port, knownHosts: '', hostKey: ed(a) }));
    st.after(() => s.close());
    assert.equal((await s.exec('hostname')).stdout.trim(), a.name);
    assert.equal(seen, 2, 'the second try connected');
    seen = 0;
    await assert.rejects(connect(target(a, { identityFile: undefined, knownHosts: known, connectAttempts: 3 })), /authentication methods failed/);
    await assert.rejects(connect(target(a, { host: '127.0.0.1', port, knownHosts: '', hostKey: ed(a), connectAttempts: 1 })), /KUBEHA_ERR_SSH_CONNECT/);
    assert.equal(seen, 1, 'connectAttempts: 1 tries once');
  });
});
