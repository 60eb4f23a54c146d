// The pure core of apiserver discovery: EndpointSlice and Endpoints objects, watch events, the
// server list they give, and the rules for replacing a backend's list (debounce, never empty).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeClock } from '../../src/clock.js';
import { EndpointObjects, endpointsOfEndpoints, endpointsOfSlice, parseWatchLine, serversFor, type DiscoveredServer } from '../../src/discovery/endpoint-list.js';
import { DiscoveredList } from '../../src/discovery/server-list.js';

/** The `kubernetes` EndpointSlice as kube-apiserver v1.20 writes it (discovery.k8s.io/v1beta1). */
const slice = (rv: string, ips: string[], port = 6443, extra: Record<string, unknown> = {}) => ({
  kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1beta1',
  metadata: { name: 'kubernetes', namespace: 'default', resourceVersion: rv, labels: { 'kubernetes.io/service-name': 'kubernetes' } },
  addressType: 'IPv4',
  endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
  ports: [{ name: 'https', protocol: 'TCP', port }],
  ...extra,
});

test('an EndpointSlice: ready addresses with the https port; not-ready and terminating ones are marked; no port, no endpoints', () => {
  assert.deepEqual(endpointsOfSlice(slice('1', ['10.8.4.91', '10.8.4.92'])), [
    { ip: '10.8.4.91', port: 6443, ready: true }, { ip: '10.8.4.92', port: 6443, ready: true },
  ]);
  const mixed = slice('1', [], 6443, { endpoints: [
    { addresses: ['10.0.0.1'] }, // no conditions: ready (the API's default)
    { addresses: ['10.0.0.2'], conditions: { ready: false } },
    { addresses: ['10.0.0.3'], conditions: { ready: true, terminating: true } },
  ] });
  assert.deepEqual(endpointsOfSlice(mixed).map((e) => [e.ip, e.ready]), [['10.0.0.1', true], ['10.0.0.2', false], ['10.0.0.3', false]]);
  assert.deepEqual(endpointsOfSlice({ ...slice('1', ['10.0.0.1']), ports: [] }), []);
  assert.deepEqual(endpointsOfSlice({ ...slice('1', ['10.0.0.1']), ports: [{ name: 'metrics', port: 1 }, { name: 'x', port: 2 }] }), [], 'two ports, none named https: no guess');
  assert.deepEqual(endpointsOfSlice('junk'), []);
});

test('an Endpoints object: addresses ready, notReadyAddresses not', () => {
  const ep = { metadata: { name: 'kubernetes', resourceVersion: '7' }, subsets: [{ addresses: [{ ip: '10.8.4.91' }], notReadyAddresses: [{ ip: '10.8.4.92' }], ports: [{ name: 'https', port: 6443, protocol: 'TCP' }] }] };
  assert.deepEqual(endpointsOfEndpoints(ep), [{ ip: '10.8.4.91', port: 6443, ready: true }, { ip: '10.8.4.92', port: 6443, ready: false }]);
  assert.deepEqual(endpointsOfEndpoints({ subsets: [{ addresses: [{ ip: '1.2.3.4' }] }] }), [], 'a subset without a port lists nothing');
});

test('list, then watch events: changes, bookmarks move the resourceVersion only, 410 asks for a new list', () => {
  const o = new EndpointObjects('endpointslices');
  assert.equal(o.replace({ metadata: { resourceVersion: '100' }, items: [slice('90', ['10.8.4.91', '10.8.4.92'])] }), true);
  assert.equal(o.resourceVersion, '100');
  assert.deepEqual(o.ready().map((e) => e.ip), ['10.8.4.91', '10.8.4.92']);
  assert.deepEqual(o.apply({ type: 'MODIFIED', object: slice('101', ['10.8.4.91', '10.8.4.92', '10.8.4.93']) }), { kind: 'changed' });
  assert.equal(o.resourceVersion, '101');
  assert.deepEqual(o.apply({ type: 'MODIFIED', object: slice('102', ['10.8.4.93', '10.8.4.91', '10.8.4.92']) }), { kind: 'unchanged' }, 'the same set in another order');
  assert.deepEqual(o.apply({ type: 'BOOKMARK', object: { kind: 'EndpointSlice', metadata: { resourceVersion: '150' } } }), { kind: 'unchanged' });
  assert.equal(o.resourceVersion, '150');
  assert.deepEqual(o.apply({ type: 'ADDED', object: slice('151', ['10.8.4.94']) }), { kind: 'changed' }, 'a second slice with the same name replaces it');
  assert.deepEqual(o.ready().map((e) => e.ip), ['10.8.4.94']);
  assert.deepEqual(o.apply({ type: 'DELETED', object: slice('152', ['10.8.4.94']) }), { kind: 'changed' });
  assert.deepEqual(o.ready(), []);
  const gone = o.apply({ type: 'ERROR', object: { kind: 'Status', status: 'Failure', message: 'too old resource version: 1 (150)', reason: 'Expired', code: 410 } });
  assert.equal(gone.kind, 'relist');
  assert.equal(o.apply({ type: 'ERROR', object: { kind: 'Status', code: 500, message: 'boom' } }).kind, 'error');
  assert.equal(o.replace({ kind: 'Status', code: 403 }), false, 'a Status is not a list');
});

test('watch lines: junk is undefined (dropped and counted), never a throw', () => {
  assert.equal(parseWatchLine('{"type":"ADDED","object":{}}')?.type, 'ADDED');
  for (const junk of ['', 'not json', '[]', '{"type":"NOPE"}', 'null', '{"type":1}']) assert.equal(parseWatchLine(junk), undefined, junk);
  fc.assert(fc.property(fc.string(), (s) => {
    const e = parseWatchLine(s);
    const o = new EndpointObjects('endpointslices');
    if (e) o.apply(e);
    return true;
  }));
  fc.assert(fc.property(fc.jsonValue(), (v) => {
    new EndpointObjects('endpointslices').replace({ items: [v] });
    new EndpointObjects('endpoints').apply({ type: 'ADDED', object: v });
    return true;
  }));
});

test('server names: a bootstrap server with the same address keeps its name; others are named by address; the port override', () => {
  const bootstrap = [{ name: 'master1', address: '10.8.4.91:6443' }];
  const eps = [{ ip: '10.8.4.91', port: 6443, ready: true }, { ip: '10.8.4.92', port: 6443, ready: true }, { ip: 'fd00::3', port: 6443, ready: true }];
  assert.deepEqual(serversFor(eps, undefined, bootstrap), [
    { name: 'master1', address: '10.8.4.91:6443' }, { name: '10.8.4.92', address: '10.8.4.92:6443' }, { name: 'fd00__3', address: '[fd00::3]:6443' },
  ]);
  assert.deepEqual(serversFor([{ ip: '10.0.0.1', port: 8443, ready: true }], undefined, []), [{ name: '10.0.0.1_8443', address: '10.0.0.1:8443' }]);
  assert.deepEqual(serversFor([{ ip: '10.0.0.1', port: 8443, ready: true }], 6443, []), [{ name: '10.0.0.1', address: '10.0.0.1:6443' }], 'port: replaces the listed port');
});

const s = (...ips: string[]): DiscoveredServer[] => ips.map((ip) => ({ name: ip, address: `${ip}:6443` }));

test('the list in force: a change is applied once after the debounce, from its first event; an empty answer never empties it', () => {
  const clock = new FakeClock();
  const applied: string[][] = [];
  const list = new DiscoveredList(s('10.0.0.1'), 'bootstrap', 1000, clock, (servers) => applied.push(servers.map((x) => x.name)));
  // The API confirms the bootstrap list: applied at once (so it is saved), as the API's.
  list.offer(s('10.0.0.1'), 'endpointslices');
  assert.deepEqual(applied, [['10.0.0.1']]);
  assert.equal(list.stats.source, 'endpointslices');
  assert.equal(list.stats.generation, 1);
  // A burst: three changes within the window give one apply, with the last list.
  list.offer(s('10.0.0.1', '10.0.0.2'), 'endpointslices');
  clock.advance(600);
  list.offer(s('10.0.0.1', '10.0.0.2', '10.0.0.3'), 'endpointslices');
  clock.advance(399);
  assert.equal(applied.length, 1, 'not before the window ends');
  list.offer(s('10.0.0.2', '10.0.0.3'), 'endpointslices');
  clock.advance(1);
  assert.deepEqual(applied.at(-1), ['10.0.0.2', '10.0.0.3'], 'the window counts from the first change, not the last');
  assert.equal(list.stats.generation, 2);
  // Empty: ignored, counted; a pending change is dropped with it.
  list.offer(s('10.0.0.9'), 'endpointslices');
  assert.equal(list.offer([], 'endpointslices'), false);
  clock.advance(5000);
  assert.deepEqual(list.servers.map((x) => x.name), ['10.0.0.2', '10.0.0.3']);
  assert.equal(list.stats.emptyIgnored, 1);
  // A flap back inside the window: nothing applied.
  list.offer(s('10.0.0.2'), 'endpointslices');
  clock.advance(300);
  list.offer(s('10.0.0.2', '10.0.0.3'), 'endpointslices');
  clock.advance(5000);
  assert.equal(list.stats.generation, 2);
  assert.equal(applied.length, 2);
});

test('a backend that starts with no servers takes the first list the API gives', () => {
  const clock = new FakeClock();
  const applied: string[][] = [];
  const list = new DiscoveredList([], 'bootstrap', 500, clock, (servers) => applied.push(servers.map((x) => x.name)));
  assert.equal(list.offer([], 'endpoints'), true, 'empty over empty is no loss');
  list.offer(s('10.0.0.1'), 'endpoints');
  clock.advance(500);
  assert.deepEqual(applied, [[], ['10.0.0.1']], 'the empty answer only confirmed the source');
});
