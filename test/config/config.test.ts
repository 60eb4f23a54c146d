import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { loadConfigFile, parseConfigText, formatProblem } from '../../src/config/load.js';
import { parseDuration, formatDuration } from '../../src/config/duration.js';
import { parseHostPort } from '../../src/config/address.js';
import { loadInventoryFile } from '../../src/plan/inventory.js';

const GOOD = `frontends:
  - name: apiserver
    bind: 0.0.0.0:6443
    backend: apiservers
backends:
  - name: apiservers
    balance: roundrobin
    retries: 3
    maxConnPerServer: 0
    healthCheck: { type: https, path: /readyz, interval: 2s, timeout: 1s, rise: 2, fall: 2 }
    slowStart: 30s
    servers:
      - { name: master1, address: 10.8.4.91:6443, weight: 100 }
admin:
  bind: 127.0.0.1:9000
vrrp:
  instances:
    - name: VI_1
      interface: eth0
      virtualRouterId: 51
      priority: 100
      version: 3
      advertInterval: 1s
      preempt: true
      vips: [10.8.4.55/24]
      unicastPeers: []
      authPass: ""
      track: { backends: [apiservers] }
`;

test('the DESIGN.md contract example is valid and parses durations to milliseconds', () => {
  const r = parseConfigText(GOOD, 'kubeha.yaml');
  assert.ok(r.ok, r.ok ? '' : r.problems.map(formatProblem).join('\n'));
  const b = r.config.backends[0];
  assert.equal(b?.healthCheck.interval, 2000);
  assert.equal(b?.slowStart, 30_000);
  assert.equal(b?.idleTimeout, 3_600_000, 'idle timeout defaults to 1h so watches survive');
  assert.equal(r.config.vrrp?.instances[0]?.advertInterval, 1000);
});

test('a config with only vrrp is valid', () => {
  const r = parseConfigText(`vrrp:\n  instances:\n    - { name: VI_1, interface: eth0, virtualRouterId: 51, vips: [10.0.0.5/24] }\n`, 'f.yaml');
  assert.ok(r.ok);
});

/** Each case: the YAML, then the expected [line, col, code, message fragment] of every problem. */
const CASES: { name: string; yaml: string; expect: [number, number, string, string][] }[] = [
  {
    name: 'unknown key with a did-you-mean',
    yaml: `frontends:\n  - name: a\n    bind: 127.0.0.1:1\n    backend: b\nbackends:\n  - name: b\n    balanse: leastconn\n    servers: [{ name: s, address: 127.0.0.1:2 }]\n`,
    expect: [[7, 5, 'KUBEHA_ERR_CONFIG_UNKNOWN_KEY', 'did you mean "balance"?']],
  },
  {
    name: 'bad duration',
    yaml: `frontends:\n  - { name: a, bind: 127.0.0.1:1, backend: b }\nbackends:\n  - name: b\n    healthCheck:\n      interval: 2\n    servers: [{ name: s, address: 127.0.0.1:2 }]\n`,
    expect: [[6, 17, 'KUBEHA_ERR_CONFIG_TYPE', '"backends[0].healthCheck.interval": a duration needs a unit: write 2s (or 2000ms)']],
  },
  {
    name: 'a bare number where a duration goes: the message says what to write (docs/configuration.md)',
    yaml: `frontends:\n  - { name: a, bind: 127.0.0.1:1, backend: b }\nbackends:\n  - name: b\n    connectTimeout: 3\n    queueTimeout: 0.5\n    slowStart: true\n    servers: [{ name: s, address: 127.0.0.1:2 }]\n`,
    expect: [
      [5, 21, 'KUBEHA_ERR_CONFIG_TYPE', 'a duration needs a unit: write 3s (or 3000ms)'],
      [6, 19, 'KUBEHA_ERR_CONFIG_TYPE', 'a duration needs a unit: write 0.5s (or 500ms)'],
      [7, 16, 'KUBEHA_ERR_CONFIG_TYPE', 'a duration is a string with a unit (e.g. 2s), not boolean true'],
    ],
  },
  {
    name: 'schema and reference problems in one pass: a refused item is left out, the rest is still cross-checked at its own lines',
    yaml: `frontends:\n  - { name: a, bind: nope, backend: b }\n  - { name: c, bind: 127.0.0.1:2, backend: bb }\n  - { name: c, bind: 127.0.0.1:3, backend: b }\nbackends:\n  - name: b\n    balance: fastest\n    servers: [{ name: s, address: 127.0.0.1:2 }]\n`,
    expect: [
      [2, 22, 'KUBEHA_ERR_CONFIG_ADDRESS', 'is not host:port'],
      [3, 44, 'KUBEHA_ERR_CONFIG_UNKNOWN_BACKEND', 'did you mean "b"?'],
      [4, 13, 'KUBEHA_ERR_CONFIG_DUPLICATE_NAME', 'already used at line 3'],
      [7, 14, 'KUBEHA_ERR_CONFIG_TYPE', 'not one of roundrobin | leastconn | source'],
    ],
  },
  {
    name: 'one pass: a left-out item still counts for names and references (no false "not defined" or "not used")',
    yaml: `frontends:\n  - { name: a, bind: 127.0.0.1:1, backend: b }\n  - { name: z, bind: 127.0.0.1:9, backend: spare }\nbackends:\n  - name: b\n    servers: []\n  - name: spare\n    servers: [{ name: s, address: 127.0.0.1:3 }, { name: s, address: 127.0.0.1:4, weight: -1 }]\n`,
    expect: [
      [6, 14, 'KUBEHA_ERR_CONFIG_TYPE', 'a backend needs at least one server'],
      [8, 58, 'KUBEHA_ERR_CONFIG_DUPLICATE_NAME', 'already used at line 8'],
      [8, 91, 'KUBEHA_ERR_CONFIG_TYPE', 'weight'],
    ],
  },
  {
    name: 'one pass: a check that depends on a refused value says nothing (version, admin.tokenFile)',
    yaml: `vrrp:\n  instances:\n    - { name: a, interface: eth0, virtualRouterId: 51, version: 4, authPass: secret, vips: [10.0.0.5/24] }\nadmin:\n  bind: 0.0.0.0:9000\n  tokenFile: 5\n`,
    expect: [
      [3, 65, 'KUBEHA_ERR_CONFIG_TYPE', 'not allowed here'],
      [6, 14, 'KUBEHA_ERR_CONFIG_TYPE', 'must be a string'],
    ],
  },
  {
    name: 'duration without a unit written as a string',
    yaml: `frontends:\n  - { name: a, bind: 127.0.0.1:1, backend: b }\nbackends:\n  - name: b\n    slowStart: "30"\n    servers: [{ name: s, address: 127.0.0.1:2 }]\n`,
    expect: [[5, 16, 'KUBEHA_ERR_CONFIG_DURATION', 'write a number with a unit']],
  },
  {
    name: 'bad address',
    yaml: `frontends:\n  - { name: a, bind: 127.0.0.1:1, backend: b }\nbackends:\n  - name: b\n    servers:\n      - { name: s, address: "10.8.4.91" }\n`,
    expect: [[6, 29, 'KUBEHA_ERR_CONFIG_ADDRESS', 'no port']],
  },
  {
    name: 'backend that no frontend uses',
    yaml: `frontends:\n  - { name: a, bind: 127.0.0.1:1, backend: b }\nbackends:\n  - name: b\n    servers: [{ name: s, address: 127.0.0.1:2 }]\n  - name: spare\n    servers: [{ name: s, address: 127.0.0.1:3 }]\n`,
    expect: [[6, 11, 'KUBEHA_ERR_CONFIG_UNUSED_BACKEND', 'not used by any frontend']],
  },
  {
    name: 'duplicate server names',
    yaml: `frontends:\n  - { name: a, bind: 127.0.0.1:1, backend: b }\nbackends:\n  - name: b\n    servers:\n      - { name: m1, address: 127.0.0.1:2 }\n      - { name: m1, address: 127.0.0.1:3 }\n`,
    expect: [[7, 17, 'KUBEHA_ERR_CONFIG_DUPLICATE_NAME', 'already used at line 6']],
  },
  {
    name: 'frontend naming an undefined backend',
    yaml: `frontends:\n  - { name: a, bind: 127.0.0.1:1, backend: apiserver }\nbackends:\n  - name: apiservers\n    servers: [{ name: s, address: 127.0.0.1:2 }]\n`,
    expect: [
      [2, 44, 'KUBEHA_ERR_CONFIG_UNKNOWN_BACKEND', 'did you mean "apiservers"?'],
      [4, 11, 'KUBEHA_ERR_CONFIG_UNUSED_BACKEND', 'not used'],
    ],
  },
  {
    name: 'enum typo',
    yaml: `frontends:\n  - { name: a, bind: 127.0.0.1:1, backend: b }\nbackends:\n  - name: b\n    balance: roundrobbin\n    servers: [{ name: s, address: 127.0.0.1:2 }]\n`,
    expect: [[5, 14, 'KUBEHA_ERR_CONFIG_TYPE', 'did you mean "roundrobin"?']],
  },
  {
    name: 'missing required key',
    yaml: `frontends:\n  - { name: a, bind: 127.0.0.1:1, backend: b }\nbackends:\n  - name: b\n`,
    expect: [[4, 5, 'KUBEHA_ERR_CONFIG_TYPE', 'a backend needs at least one server (or discovery.kubernetes to find them)']],
  },
  {
    name: 'YAML syntax error',
    yaml: `frontends:\n  - name: a\n   bind: x\n`,
    expect: [[3, 1, 'KUBEHA_ERR_CONFIG_YAML', 'fix the YAML syntax']],
  },
  {
    name: 'admin reachable from other hosts without a token',
    yaml: `frontends:\n  - { name: a, bind: 127.0.0.1:1, backend: b }\nbackends:\n  - name: b\n    servers: [{ name: s, address: 127.0.0.1:2 }]\nadmin:\n  bind: 0.0.0.0:9000\n`,
    expect: [[7, 9, 'KUBEHA_ERR_CONFIG_ADMIN_TOKEN', 'set admin.tokenFile']],
  },
  {
    name: 'unresolved YAML alias (found by the property test below)',
    yaml: `frontends: *nope\n`,
    expect: [[1, 1, 'KUBEHA_ERR_CONFIG_YAML', 'fix the anchors and aliases']],
  },
  {
    name: 'VRRP: one VRID twice on one interface',
    yaml: `vrrp:\n  instances:\n    - { name: a, interface: eth0, virtualRouterId: 51, vips: [10.0.0.5/24] }\n    - { name: b, interface: eth0, virtualRouterId: 51, vips: [10.0.0.6/24] }\n`,
    expect: [[4, 52, 'KUBEHA_ERR_CONFIG_VRRP', 'already used by IPv4 instance "a"']],
  },
  {
    name: 'VRRP: authPass with v3, a v2 interval below a second, IPv4 and IPv6 VIPs in one instance, a peer that is the VIP',
    yaml: `vrrp:\n  instances:\n    - name: a\n      interface: eth0\n      virtualRouterId: 51\n      authPass: secret\n      vips: [10.0.0.5/24, "fd00::5/64"]\n      unicastPeers: [10.0.0.5]\n    - { name: b, interface: eth0, virtualRouterId: 52, version: 2, advertInterval: 500ms, vips: [10.0.0.6/24] }\n`,
    expect: [
      [6, 17, 'KUBEHA_ERR_CONFIG_VRRP', 'VRRPv3 has no authentication'],
      [7, 27, 'KUBEHA_ERR_CONFIG_VRRP', 'one instance carries one address family'],
      [8, 22, 'KUBEHA_ERR_CONFIG_VRRP', 'is one of the VIPs'],
      [9, 84, 'KUBEHA_ERR_CONFIG_VRRP', 'whole seconds'],
    ],
  },
  {
    name: 'VRRP: priority 255 with a track weight',
    yaml: `vrrp:\n  instances:\n    - { name: a, interface: eth0, virtualRouterId: 51, priority: 255, vips: [10.0.0.5/24], track: { scripts: [{ name: s, command: "true", weight: -20 }] } }\n`,
    expect: [[3, 66, 'KUBEHA_ERR_CONFIG_VRRP', 'address owner']],
  },
  {
    name: 'vipElection: a margin that leaves no room for keepalives; a VIP that VRRP also manages',
    yaml: `vrrp:\n  instances:\n    - { name: a, interface: eth0, virtualRouterId: 51, vips: [10.0.0.5/24] }\nvipElection:\n  etcd: [http://10.0.0.1:2379]\n  interface: eth0\n  ttl: 3s\n  margin: 2500ms\n  vips: [10.0.0.5/24]\n`,
    expect: [
      [8, 11, 'KUBEHA_ERR_CONFIG_ELECTION', 'margin must be above 0 and below TTL - TTL/3'],
      [9, 10, 'KUBEHA_ERR_CONFIG_ELECTION', 'also managed by a vrrp instance'],
    ],
  },
  {
    name: 'dataPlane: kernel: a wildcard bind, port 0, leastconn, a server by name',
    yaml: `frontends:\n  - { name: a, bind: 0.0.0.0:6443, backend: b, dataPlane: kernel }\n  - { name: c, bind: 127.0.0.1:0, backend: d, dataPlane: kernel }\nbackends:\n  - name: b\n    balance: leastconn\n    servers: [{ name: s, address: master1:6443 }]\n  - name: d\n    servers: [{ name: s, address: 10.0.0.1:6443 }]\n`,
    expect: [
      [2, 22, 'KUBEHA_ERR_CONFIG_KERNEL', 'matches one IPv4 address, not 0.0.0.0'],
      [3, 22, 'KUBEHA_ERR_CONFIG_KERNEL', 'port 0'],
      [6, 14, 'KUBEHA_ERR_CONFIG_KERNEL', 'keeps no connection counts'],
      [7, 35, 'KUBEHA_ERR_CONFIG_KERNEL', 'resolves no names'],
    ],
  },
  {
    name: 'sourceNat: vip on a user-space and a node-local frontend; conntrackSync with nothing to take its addresses from',
    yaml: `frontends:\n  - { name: a, bind: 10.0.0.5:6443, backend: b, sourceNat: vip }\n  - { name: c, bind: 127.0.0.1:7443, backend: b, dataPlane: kernel, sourceNat: vip }\nbackends:\n  - { name: b, servers: [{ name: s, address: 10.0.0.1:6443 }] }\nconntrackSync: { port: 3780 }\n`,
    expect: [
      [2, 60, 'KUBEHA_ERR_CONFIG_KERNEL', 'only a frontend with dataPlane: kernel has'],
      [3, 80, 'KUBEHA_ERR_CONFIG_KERNEL', 'no other host can take over'],
      [6, 16, 'KUBEHA_ERR_CONFIG_KERNEL', 'conntrackSync needs peer, localAddress, interface'],
    ],
  },
  {
    name: 'conntrackSync for a kernel frontend whose servers answer the node (sourceNat: node)',
    yaml: `frontends:\n  - { name: a, bind: 10.0.0.5:6443, backend: b, dataPlane: kernel }\nbackends:\n  - { name: b, servers: [{ name: s, address: 10.0.0.1:6443 }] }\nconntrackSync: { peer: 10.0.0.3, localAddress: 10.0.0.2, interface: eth0 }\n`,
    expect: [[5, 16, 'KUBEHA_ERR_CONFIG_KERNEL', 'answer this node\'s own address (sourceNat: node)']],
  },
  {
    name: 'BGP: an IPv6 VIP that is not a host route or not in RFC 5952 form, a link-local nextHop6',
    yaml: `bgp:\n  localAsn: 65001\n  peers:\n    - { address: 10.0.0.1, asn: 65000, nextHop6: "fe80::1" }\n  announce:\n    - { vip: "2001:db8::/64" }\n    - { vip: "2001:DB8:0::55/128" }\n    - { vip: "2001:db8::56/128" }\n`,
    expect: [
      [4, 50, 'KUBEHA_ERR_CONFIG_BGP', 'not a global IPv6 address'],
      [6, 14, 'KUBEHA_ERR_CONFIG_BGP', 'or an IPv6 /128'],
      [7, 14, 'KUBEHA_ERR_CONFIG_BGP', 'RFC 5952 form, 2001:db8::55/128'],
    ],
  },
  {
    name: 'BGP: nextHop6 with no IPv6 VIP to carry',
    yaml: `bgp:\n  localAsn: 65001\n  peers:\n    - { address: 10.0.0.1, asn: 65000, nextHop6: "2001:db8::11" }\n  announce:\n    - { vip: 10.0.0.55/32 }\n`,
    expect: [[4, 50, 'KUBEHA_ERR_CONFIG_BGP', 'no announce entry is IPv6']],
  },
  {
    name: 'nothing to run',
    yaml: `admin: { bind: 127.0.0.1:9000 }\n`,
    expect: [[1, 1, 'KUBEHA_ERR_CONFIG_EMPTY', 'nothing to run']],
  },
];

for (const c of CASES) {
  test(`config problem: ${c.name}`, () => {
    const r = parseConfigText(c.yaml, 'k.yaml');
    assert.equal(r.ok, false);
    if (r.ok) return;
    const got = r.problems.map((p) => [p.line, p.col, p.code, p.message] as const);
    assert.equal(got.length, c.expect.length, `problems: ${r.problems.map(formatProblem).join('\n')}`);
    c.expect.forEach(([line, col, code, fragment], i) => {
      const [gl, gc, gcode, gmsg] = got[i] as readonly [number, number, string, string];
      assert.deepEqual([gl, gc, gcode], [line, col, code], formatProblem(r.problems[i]!));
      assert.ok(gmsg.includes(fragment), `"${gmsg}" should contain "${fragment}"`);
    });
    assert.match(formatProblem(r.problems[0]!), /^k\.yaml:\d+:\d+: .+ \[KUBEHA_ERR_[A-Z_]+\]$/);
  });
}

test('durations', () => {
  const table: [string, number | undefined][] = [
    ['300ms', 300], ['2s', 2000], ['1m30s', 90_000], ['1.5h', 5_400_000], ['1d', 86_400_000],
    ['2', undefined], ['', undefined], ['s', undefined], ['2 s', undefined], ['-1s', undefined], ['2sec', undefined],
  ];
  for (const [text, ms] of table) assert.equal(parseDuration(text), ms, text);
  for (const ms of [1, 300, 1000, 1500, 60_000, 3_600_000]) assert.equal(parseDuration(formatDuration(ms)), ms);
});

test('addresses', () => {
  assert.deepEqual(parseHostPort('10.8.4.91:6443'), { host: '10.8.4.91', port: 6443 });
  assert.deepEqual(parseHostPort('[fd00::1]:6443'), { host: 'fd00::1', port: 6443 });
  assert.deepEqual(parseHostPort('master1.example:6443'), { host: 'master1.example', port: 6443 });
  assert.deepEqual(parseHostPort('0.0.0.0:0', true), { host: '0.0.0.0', port: 0 });
  for (const bad of ['10.8.4.91', '10.8.4.91:0', '10.8.4.91:70000', 'fd00::1:6443', '[fd00::1]', 'bad_host:1', ':6443']) {
    assert.equal(typeof parseHostPort(bad), 'string', bad);
  }
});

test('property: no input makes the loader throw; every problem has a code and a position inside the text', () => {
  const keys = ['frontends', 'backends', 'servers', 'name', 'bind', 'address', 'healthCheck', 'interval', 'rise', 'weight', 'vrrp', 'admin'];
  const yamlish = fc.array(
    fc.tuple(fc.nat(6), fc.constantFrom(...keys, '-', 'bogus'), fc.oneof(fc.string(), fc.constantFrom('2s', '127.0.0.1:1', '[', '{', '- x', '1e999', 'null', '&a', '*a'))),
    { maxLength: 12 },
  ).map((lines) => lines.map(([indent, key, value]) => `${' '.repeat(indent)}${key}: ${value}`).join('\n'));
  fc.assert(
    fc.property(fc.oneof(fc.string(), yamlish), (text) => {
      const r = parseConfigText(text, 'p.yaml');
      if (r.ok) return;
      const lines = text.split('\n').length;
      for (const p of r.problems) {
        assert.match(p.code, /^KUBEHA_ERR_CONFIG_/);
        assert.ok(p.line >= 1 && p.line <= lines + 1, `line ${p.line} of ${lines}`);
        assert.ok(p.col >= 1);
      }
    }),
    { numRuns: 500 },
  );
});

test('every example config passes kubeha check, and every example inventory loads', async () => {
  const dir = fileURLToPath(new URL('../../../examples/', import.meta.url));
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length > 0);
  for (const f of files) {
    // inventory*.yaml are the planner's inputs, not daemon configs
    const r = f.startsWith('inventory') ? await loadInventoryFile(join(dir, f)) : await loadConfigFile(join(dir, f));
    assert.ok(r.ok, `${f}: ${r.ok ? '' : r.problems.map(formatProblem).join('\n')}`);
  }
});
