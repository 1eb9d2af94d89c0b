import t from 'tap';
import { ConsistentHash, hashKeyOf, hashString } from '../../src/balancers/hash.js';
import type { PickContext } from '../../src/balancers/types.js';
import { counts, srv, type Srv } from './fixtures/servers.js';

function ipCtx(ip: string): PickContext {
  return { remoteAddress: ip, headers: {} };
}

const IPS = Array.from({ length: 2000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);

t.test('sends the same key to the same server every time', async (t) => {
  const servers = [srv('a'), srv('b'), srv('c')];
  const b = new ConsistentHash<Srv>(servers, { kind: 'ip' });
  const first = b.pick(servers, ipCtx('192.0.2.7'));
  for (let i = 0; i < 100; i++) t.equal(b.pick(servers, ipCtx('192.0.2.7')), first);
  const again = new ConsistentHash<Srv>([...servers].reverse(), { kind: 'ip' });
  t.equal(again.pick(servers, ipCtx('192.0.2.7')), first, 'independent of construction order and instance');
});

t.test('spreads keys over every server', async (t) => {
  const servers = [srv('a'), srv('b'), srv('c'), srv('d')];
  const b = new ConsistentHash<Srv>(servers, { kind: 'ip' });
  const seen = counts(IPS.map((ip) => b.pick(servers, ipCtx(ip))));
  for (const s of servers) t.ok((seen[s.id] ?? 0) > 350, `${s.id} got ${seen[s.id]} of 2000`);
});

t.test('keys on a header, using the first value when repeated', async (t) => {
  const servers = [srv('a'), srv('b'), srv('c'), srv('d')];
  const b = new ConsistentHash<Srv>(servers, { kind: 'header', name: 'x-user' });
  const byUser = (user: string | string[], ip: string) =>
    b.pick(servers, { remoteAddress: ip, headers: { 'x-user': user } });
  const target = byUser('alice', '192.0.2.1');
  for (const ip of IPS.slice(0, 50)) t.equal(byUser('alice', ip), target);
  t.equal(byUser(['alice', 'bob'], '192.0.2.99'), target);
  const users = counts(Array.from({ length: 400 }, (_, i) => byUser(`user-${i}`, '192.0.2.1')));
  t.equal(Object.keys(users).length, 4, 'different header values reach different servers');
});

t.test('keys on a named cookie among others', async (t) => {
  const servers = [srv('a'), srv('b'), srv('c'), srv('d')];
  const b = new ConsistentHash<Srv>(servers, { kind: 'cookie', name: 'sid' });
  const byCookie = (cookie: string, ip: string) => b.pick(servers, { remoteAddress: ip, headers: { cookie } });
  const target = byCookie('sid=abc123', '192.0.2.1');
  t.equal(byCookie('theme=dark; sid=abc123; lang=en', '198.51.100.2'), target);
  t.equal(byCookie('xsid=zzz;sid=abc123 ', '198.51.100.3'), target);
  const sessions = counts(Array.from({ length: 400 }, (_, i) => byCookie(`sid=s${i}`, '192.0.2.1')));
  t.equal(Object.keys(sessions).length, 4, 'different sessions reach different servers');
});

t.test('reads the cookie value by whole name', async (t) => {
  const key = { kind: 'cookie', name: 'sid' } as const;
  const ctx = (cookie: string): PickContext => ({ remoteAddress: '192.0.2.9', headers: { cookie } });
  t.equal(hashKeyOf(ctx('sid=abc'), key), 'abc');
  t.equal(hashKeyOf(ctx('a=1; sid=abc; b=2'), key), 'abc');
  t.equal(hashKeyOf(ctx('xsid=no; sidx=no;  sid=yes'), key), 'yes');
  t.equal(hashKeyOf(ctx('SID=no; sid=yes'), key), 'yes', 'names are case-sensitive');
  t.equal(hashKeyOf(ctx('xsid=no'), key), '192.0.2.9', 'absent cookie falls back to the ip');
  t.equal(hashKeyOf(ctx('sid=; a=1'), key), '192.0.2.9', 'empty value falls back to the ip');
  t.equal(hashKeyOf(ctx(';;  '), key), '192.0.2.9');
});

t.test('falls back to the client address when the header is missing', async (t) => {
  const servers = [srv('a'), srv('b'), srv('c'), srv('d')];
  const byHeader = new ConsistentHash<Srv>(servers, { kind: 'header', name: 'x-user' });
  const byIp = new ConsistentHash<Srv>(servers, { kind: 'ip' });
  for (const ip of IPS.slice(0, 200)) {
    if (byHeader.pick(servers, ipCtx(ip)) !== byIp.pick(servers, ipCtx(ip))) t.fail(`mismatch for ${ip}`);
  }
  t.equal(hashKeyOf({ remoteAddress: '192.0.2.5', headers: { 'x-user': '' } }, { kind: 'header', name: 'x-user' }), '192.0.2.5');
  t.equal(hashKeyOf({ remoteAddress: undefined, headers: {} }, { kind: 'ip' }), '');
  t.ok(byIp.pick(servers, { remoteAddress: undefined, headers: {} }), 'no address still picks a server');
});

t.test('moves only the keys of a server that leaves, and brings them back when it returns', async (t) => {
  const servers = [srv('a'), srv('b'), srv('c'), srv('d')];
  const b = new ConsistentHash<Srv>(servers, { kind: 'ip' });
  const before = IPS.map((ip) => b.pick(servers, ipCtx(ip))?.id);
  const without = servers.filter((s) => s.id !== 'c');
  const after = IPS.map((ip) => b.pick(without, ipCtx(ip))?.id);
  let moved = 0;
  let wrong = 0;
  for (let i = 0; i < IPS.length; i++) {
    if (before[i] === 'c') moved++;
    else if (after[i] !== before[i]) wrong++;
  }
  t.equal(wrong, 0, 'keys of the remaining servers stay put');
  t.ok(moved > 0, `${moved} keys of c moved`);
  t.notOk(after.includes('c'), 'nothing goes to the absent server');
  const heirs = counts(after.filter((_, i) => before[i] === 'c').map((id) => ({ id: id ?? 'undefined' })));
  t.equal(Object.keys(heirs).length, 3, 'the departed server\'s keys spread over all others');
  const back = IPS.map((ip) => b.pick(servers, ipCtx(ip))?.id);
  t.same(back, before, 'the original mapping returns with the server');
});

t.test('gives a server keys in proportion to its weight', async (t) => {
  const servers = [srv('heavy', 3), srv('light', 1)];
  const b = new ConsistentHash<Srv>(servers, { kind: 'ip' });
  const n = 20000;
  const ips = Array.from({ length: n }, (_, i) => `172.16.${(i >> 8) & 255}.${i & 255}`);
  const seen = counts(ips.map((ip) => b.pick(servers, ipCtx(ip))));
  const share = (seen.heavy ?? 0) / n;
  t.ok(Math.abs(share - 0.75) <= 0.07, `heavy share ${share.toFixed(3)} ≈ 0.75`);
});

t.test('gives a weight-0 server no keys', async (t) => {
  const servers = [srv('a', 1), srv('zero', 0)];
  const b = new ConsistentHash<Srv>(servers, { kind: 'ip' });
  const seen = counts(IPS.map((ip) => b.pick(servers, ipCtx(ip))));
  t.same(seen, { a: IPS.length });
});

t.test('still picks a candidate that is not on the ring', async (t) => {
  const b = new ConsistentHash<Srv>([srv('a'), srv('b')], { kind: 'ip' });
  const stranger = srv('stranger');
  t.equal(b.pick([stranger], ipCtx('192.0.2.1')), stranger);
});

t.test('returns undefined for an empty list', async (t) => {
  const b = new ConsistentHash<Srv>([srv('a')], { kind: 'ip' });
  t.equal(b.pick([], ipCtx('192.0.2.1')), undefined);
});

t.test('hashes a substring the same as the sliced string', async (t) => {
  t.equal(hashString('xx-hello-yy', 3, 8), hashString('hello'));
  t.not(hashString('10.0.0.1'), hashString('10.0.0.2'));
});
