// The apply tier's test bed itself: two Debian 12 hosts booted with systemd-nspawn from one cached
// root (scripts/host-rootfs.sh), each with systemd as PID 1, its own sshd, host keys and address,
// reached from the test process through the real OpenSSH client with host keys checked strictly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { arch } from 'node:os';
import { join } from 'node:path';
import { bootHosts } from '../support/hosts.js';

const UNAME: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64' };

test('two booted Debian hosts: systemd running, sshd with fresh host keys per host, root by key only', async (t) => {
  const bed = await bootHosts(t, 2);
  const [a, b] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0]];
  t.diagnostic(`booted ${bed.hosts.map((h) => `${h.name} (${h.ip}) to an SSH banner in ${h.bootMs} ms`).join(', ')}; bridge ${bed.bridge} ${bed.bridgeIp}/${bed.prefixLen}`);

  await t.test('systemd reaches running (or degraded) on each host', async () => {
    for (const h of bed.hosts) {
      const r = await h.exec('systemctl is-system-running --wait');
      assert.match(r.stdout.trim(), /^(running|degraded)$/, `${h.name}: ${r.stdout}${r.stderr}`);
      const failed = await h.exec('systemctl --failed --no-legend --plain');
      t.diagnostic(`${h.name}: ${r.stdout.trim()}${failed.stdout.trim() ? `; failed units: ${failed.stdout.trim()}` : ''}`);
    }
  });

  await t.test('each host generated its own host keys, and sshd serves the ones the bed read', async () => {
    const ed = (keys: string[]) => keys.find((k) => k.startsWith('ssh-ed25519 '));
    assert.ok(ed(a.hostKeys) && ed(b.hostKeys), `ed25519 host keys: ${a.hostKeys} / ${b.hostKeys}`);
    assert.notEqual(ed(a.hostKeys), ed(b.hostKeys));
    assert.equal(new Set([...a.hostKeys, ...b.hostKeys]).size, a.hostKeys.length + b.hostKeys.length, 'no key shared between hosts');
    for (const h of bed.hosts) {
      const served = execFileSync('ssh-keyscan', ['-T', '5', '-t', 'ed25519', h.ip], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      assert.equal(served.trim(), `${h.ip} ${ed(h.hostKeys)}`);
    }
  });

  await t.test('ssh with the test key runs commands as root on each host', async () => {
    for (const h of bed.hosts) {
      const r = await h.exec('uname -m; systemctl --version | head -1; id -u; hostname; cat /etc/machine-id');
      assert.equal(r.code, 0, r.stderr);
      const [machine, systemd, uid, hostname] = r.stdout.trim().split('\n');
      assert.equal(machine, UNAME[arch()] ?? arch());
      assert.match(systemd ?? '', /^systemd 252 /);
      assert.equal(uid, '0');
      assert.equal(hostname, h.name);
    }
    const ids = await Promise.all(bed.hosts.map(async (h) => (await h.exec('cat /etc/machine-id')).stdout.trim()));
    assert.notEqual(ids[0], ids[1], 'a machine-id per host');
  });

  await t.test('refused: a key the hosts do not know, and a host whose key is not the one in known_hosts', async () => {
    const stranger = join(bed.dir, 'stranger');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
    const opts = bed.sshOptions.map((o) => (o === bed.keyFile ? stranger : o));
    const wrongKey = spawnCode('ssh', [...opts, a.ip, 'true']);
    assert.equal(wrongKey.code, 255);
    assert.match(wrongKey.stderr, /Permission denied \(publickey\)/);
    // b's keys filed under a's address: strict checking refuses a.
    const swapped = join(bed.dir, 'known_hosts.swapped');
    writeFileSync(swapped, b.hostKeys.map((k) => `${a.ip} ${k}\n`).join(''));
    const changed = spawnCode('ssh', [...bed.sshOptions.map((o) => (o === `UserKnownHostsFile=${bed.knownHosts}`? `UserKnownHostsFile=${swapped}` : o)), a.ip, 'true']);
    assert.equal(changed.code, 255);
    assert.match(changed.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    const sshd = await a.exec('sshd -T | grep -E "^(permitrootlogin|passwordauthentication|kbdinteractiveauthentication) "; passwd -S root');
    assert.deepEqual(sshd.stdout.trim().split('\n').map((l) => l.split(' ').slice(0, 2).join(' ')),
      ['permitrootlogin without-password', 'passwordauthentication no', 'kbdinteractiveauthentication no', 'root L']);
  });

  await t.test('hosts reach each other on the bridge and may change their own addresses (CAP_NET_ADMIN)', async () => {
    const r = await a.exec(`timeout 5 bash -c 'head -c 8 </dev/tcp/${b.ip}/22'`);
    assert.equal(r.stdout, 'SSH-2.0-', r.stderr);
    const add = await b.exec(`ip addr add ${bed.spareIp}/${bed.prefixLen} dev host0 && ip -4 -o addr show dev host0 && ip addr del ${bed.spareIp}/${bed.prefixLen} dev host0`);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, new RegExp(` ${bed.spareIp.replaceAll('.', '\\.')}/${bed.prefixLen} `));
    // nsenter reaches the same host as ssh (the plumbing path tests may use).
    const entered = await b.enter(['cat', '/etc/hostname']);
    assert.equal(entered.stdout.trim(), b.name, entered.stderr);
  });
});

function spawnCode(cmd: string, args: string[]): { code: number | null; stderr: string } {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
    return { code: 0, stderr: '' };
  } catch (e) {
    const err = e as { status: number | null; stderr?: Buffer };
    return { code: err.status, stderr: err.stderr?.toString() ?? '' };
  }
}
