import t from 'tap';
import { downstreamHeaders, h2RequestHeaders, upstreamHeaders, type ForwardContext } from '../../src/proxy/headers.js';
import { startUpstream } from '../helpers/upstream.js';
import { startSwitchyard } from '../helpers/app.js';
import { request } from '../helpers/http.js';

const ctx: ForwardContext = {
  clientIp: '10.0.0.9',
  proto: 'http',
  poolHeader: 'x-switchyard-pool',
  pool: 'blue',
  trustForwarded: false,
};

/** pairs — a flat [name, value, …] list as [name, value] tuples, for readable assertions. */
function pairs(flat: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

/** values — every value of header `name` (case-insensitive), in order. */
function values(flat: readonly string[], name: string): string[] {
  return pairs(flat)
    .filter(([n]) => n.toLowerCase() === name)
    .map(([, v]) => v);
}

t.test('upstreamHeaders removes every hop-by-hop header and keeps end-to-end ones', async (t) => {
  const out = upstreamHeaders(
    [
      'Host', 'example.test',
      'Connection', 'keep-alive',
      'Keep-Alive', 'timeout=5',
      'TE', 'trailers',
      'Transfer-Encoding', 'chunked',
      'Upgrade', 'websocket',
      'Proxy-Connection', 'keep-alive',
      'Accept', 'text/plain',
      'X-Custom', 'kept',
    ],
    ctx,
  );
  const names = pairs(out).map(([n]) => n.toLowerCase());
  for (const hop of ['connection', 'keep-alive', 'te', 'transfer-encoding', 'upgrade', 'proxy-connection']) {
    t.notOk(names.includes(hop), `${hop} is removed`);
  }
  t.same(values(out, 'accept'), ['text/plain']);
  t.same(values(out, 'x-custom'), ['kept']);
});

t.test('upstreamHeaders removes every header the Connection header names, whatever the case or order', async (t) => {
  const out = upstreamHeaders(
    [
      'X-Before', 'gone',
      'Connection', 'close, X-Secret',
      'x-secret', 'token-1',
      'Connection', 'x-before , , X-Other',
      'X-Other', 'also gone',
      'X-Public', 'stays',
    ],
    ctx,
  );
  t.same(values(out, 'x-secret'), [], 'x-secret named in Connection is dropped');
  t.same(values(out, 'x-before'), [], 'a header listed before the Connection header that names it is dropped');
  t.same(values(out, 'x-other'), [], 'tokens from a second Connection header count too');
  t.same(values(out, 'x-public'), ['stays'], 'headers not named stay');
  t.same(values(out, 'connection'), []);
});

t.test('upstreamHeaders appends the client address to an existing X-Forwarded-For', async (t) => {
  t.same(values(upstreamHeaders(['Host', 'h'], ctx), 'x-forwarded-for'), ['10.0.0.9'], 'set when absent');
  t.same(
    values(upstreamHeaders(['X-Forwarded-For', '203.0.113.7', 'Host', 'h'], ctx), 'x-forwarded-for'),
    ['203.0.113.7, 10.0.0.9'],
    'appended to one',
  );
  t.same(
    values(upstreamHeaders(['X-Forwarded-For', '203.0.113.7, 198.51.100.2', 'x-forwarded-for', '192.0.2.1'], ctx), 'x-forwarded-for'),
    ['203.0.113.7, 198.51.100.2, 192.0.2.1, 10.0.0.9'],
    'several incoming lines become one list, in order, client last',
  );
});

t.test('upstreamHeaders sets X-Forwarded-Proto and -Host, ignoring client copies unless trustForwarded', async (t) => {
  const raw = ['Host', 'shop.example:8080', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'spoofed.example'];
  const untrusted = upstreamHeaders(raw, ctx);
  t.same(values(untrusted, 'x-forwarded-proto'), ['http'], 'our own proto, once');
  t.same(values(untrusted, 'x-forwarded-host'), ['shop.example:8080'], 'the Host the client asked for, once');

  const trusted = upstreamHeaders(raw, { ...ctx, trustForwarded: true });
  t.same(values(trusted, 'x-forwarded-proto'), ['https'], 'kept from a trusted proxy');
  t.same(values(trusted, 'x-forwarded-host'), ['spoofed.example'], 'kept from a trusted proxy');

  const trustedButAbsent = upstreamHeaders(['Host', 'shop.example'], { ...ctx, trustForwarded: true, proto: 'https' });
  t.same(values(trustedButAbsent, 'x-forwarded-proto'), ['https'], 'falls back to our proto');
  t.same(values(trustedButAbsent, 'x-forwarded-host'), ['shop.example'], 'falls back to Host');

  t.same(values(upstreamHeaders([], ctx), 'x-forwarded-host'), [], 'no Host, no X-Forwarded-Host');
});

t.test('upstreamHeaders keeps Host with its original name and value', async (t) => {
  const out = upstreamHeaders(['HoSt', 'Shop.Example:8080', 'Accept', '*/*'], ctx);
  t.same(pairs(out).slice(0, 2), [
    ['HoSt', 'Shop.Example:8080'],
    ['Accept', '*/*'],
  ]);
});

t.test('upstreamHeaders adds the pool header and drops a client-sent copy', async (t) => {
  const out = upstreamHeaders(['Host', 'h', 'X-Switchyard-Pool', 'green', 'x-switchyard-pool', 'red'], ctx);
  t.same(values(out, 'x-switchyard-pool'), ['blue'], 'exactly one, naming the pool that serves');

  const none = upstreamHeaders(['Host', 'h', 'X-Switchyard-Pool', 'green'], { ...ctx, poolHeader: '' });
  t.same(values(none, 'x-switchyard-pool'), ['green'], 'with the pool header turned off the client header is an ordinary header');
  t.equal(none.length % 2, 0, 'still a flat name/value list');
});

t.test('upstreamHeaders keeps repeated end-to-end headers and does not modify its input', async (t) => {
  const raw = Object.freeze(['Host', 'h', 'Accept-Language', 'en', 'Accept-Language', 'fr', 'Cookie', 'a=1', 'Cookie', 'b=2']);
  const out = upstreamHeaders(raw, ctx);
  t.same(values(out, 'accept-language'), ['en', 'fr']);
  t.same(values(out, 'cookie'), ['a=1', 'b=2']);
  t.equal(raw.length, 10);
});

t.test('downstreamHeaders keeps both Set-Cookie headers of a response, in order', async (t) => {
  const out = downstreamHeaders([
    Buffer.from('Set-Cookie'), Buffer.from('a=1; Path=/'),
    Buffer.from('Content-Type'), Buffer.from('text/plain'),
    Buffer.from('Set-Cookie'), Buffer.from('b=2; HttpOnly'),
  ]);
  t.same(pairs(out), [
    ['Set-Cookie', 'a=1; Path=/'],
    ['Content-Type', 'text/plain'],
    ['Set-Cookie', 'b=2; HttpOnly'],
  ]);
});

t.test('downstreamHeaders removes hop-by-hop headers and those named in Connection, even when named after them', async (t) => {
  const out = downstreamHeaders([
    'X-Internal', 'secret',
    'Connection', 'keep-alive, X-Internal',
    'Keep-Alive', 'timeout=5',
    'Transfer-Encoding', 'chunked',
    'Upgrade', 'h2c',
    'Proxy-Connection', 'close',
    'TE', 'trailers',
    'Content-Length', '5',
  ]);
  t.same(pairs(out), [['Content-Length', '5']]);
});

t.test('downstreamHeaders passes header bytes through unchanged (latin1 round trip)', async (t) => {
  const value = Buffer.from([0x63, 0x61, 0x66, 0xe9]); // "café" in latin1: an opaque octet
  const out = downstreamHeaders([Buffer.from('X-Name'), value]);
  t.same(Buffer.from(out[1]!, 'latin1'), value);
});

interface Echo {
  headers: Record<string, string | undefined>;
  rawHeaders: string[];
}

t.test('the upstream really receives the forwarded headers and none of the hop-by-hop ones', async (t) => {
  const up = await startUpstream('blue-1');
  t.teardown(() => up.close());
  const sy = await startSwitchyard(t, { blue: { servers: [up.address] } }, { health: { enabled: false } });
  const res = await request(`${sy.url}/headers`, {
    headers: {
      Host: 'shop.example:8080',
      Connection: 'close, x-secret',
      'X-Secret': 'do-not-forward',
      'Keep-Alive': 'timeout=5',
      TE: 'trailers',
      Upgrade: 'websocket',
      'Proxy-Connection': 'keep-alive',
      'X-Forwarded-For': '203.0.113.7',
      'X-Forwarded-Proto': 'https',
      'X-Forwarded-Host': 'spoofed.example',
      'X-Switchyard-Pool': 'green',
      'X-Request-Id': 'abc-123',
    },
  });
  t.equal(res.status, 200);
  t.equal(res.headers['x-upstream'], 'blue-1', 'the answer is the upstream echo');
  const echo = JSON.parse(res.body) as Echo;
  const h = echo.headers;
  t.equal(h['x-secret'], undefined, 'a header named in Connection does not reach the upstream');
  t.equal(h['keep-alive'], undefined);
  t.equal(h.te, undefined);
  t.equal(h.upgrade, undefined);
  t.equal(h['proxy-connection'], undefined);
  t.not(h.connection, 'close, x-secret', "the client's Connection header is not forwarded");
  t.equal(h.host, 'shop.example:8080', 'Host is kept');
  t.equal(h['x-forwarded-for'], '203.0.113.7, 127.0.0.1', 'the client address is appended');
  t.equal(h['x-forwarded-proto'], 'http', 'untrusted X-Forwarded-Proto is replaced');
  t.equal(h['x-forwarded-host'], 'shop.example:8080', 'untrusted X-Forwarded-Host is replaced by Host');
  t.equal(h['x-switchyard-pool'], 'blue', 'the pool header names the serving pool');
  t.equal(echo.rawHeaders.filter((n) => n.toLowerCase() === 'x-switchyard-pool').length, 1, 'one pool header only');
  t.equal(h['x-request-id'], 'abc-123', 'end-to-end headers pass');
});

t.test('with trustForwardedHeaders the upstream receives the client-sent X-Forwarded-Proto and -Host', async (t) => {
  const up = await startUpstream('blue-1');
  t.teardown(() => up.close());
  const sy = await startSwitchyard(t, { blue: { servers: [up.address] } }, { health: { enabled: false }, proxy: { trustForwardedHeaders: true } });
  const res = await request(`${sy.url}/headers`, {
    headers: { Host: 'internal:80', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'www.example' },
  });
  const h = (JSON.parse(res.body) as Echo).headers;
  t.equal(h['x-forwarded-proto'], 'https');
  t.equal(h['x-forwarded-host'], 'www.example');
  t.equal(h.host, 'internal:80');
});

t.test('two Set-Cookie headers from the upstream both reach the client', async (t) => {
  const { createServer } = await import('node:http');
  const server = createServer((_req, res) => {
    res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; HttpOnly']);
    res.setHeader('Connection', 'keep-alive, x-internal');
    res.setHeader('X-Internal', 'secret');
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  const port = (server.address() as { port: number }).port;
  const sy = await startSwitchyard(t, { blue: { servers: [`127.0.0.1:${port}`] } }, { health: { enabled: false } });
  const res = await request(`${sy.url}/`);
  t.equal(res.status, 200);
  t.same(res.headers['set-cookie'], ['a=1; Path=/', 'b=2; HttpOnly']);
  t.equal(res.headers['x-internal'], undefined, 'a response header named in Connection is not relayed');
});

t.test('h2RequestHeaders drops pseudo-headers and turns :authority into Host', async (t) => {
  const raw = [':method', 'GET', ':path', '/x', ':scheme', 'https', ':authority', 'example.test:8443', 'accept', '*/*'];
  t.same(h2RequestHeaders(raw), ['host', 'example.test:8443', 'accept', '*/*']);
  t.same(h2RequestHeaders([':authority', 'a.test', 'host', 'b.test']), ['host', 'b.test'], 'a Host header the client sent wins');
  t.same(h2RequestHeaders([':method', 'GET', ':path', '/']), [], 'no authority, no host');
  const up = upstreamHeaders(h2RequestHeaders(raw), ctx);
  t.notOk(up.some((h, i) => i % 2 === 0 && h.startsWith(':')), 'nothing pseudo reaches upstreamHeaders');
});

t.test('the common Connection values (keep-alive, close, any case) name no header; a list still does', async (t) => {
  for (const value of ['keep-alive', 'Keep-Alive', 'close', 'CLOSE', 'keep-alivf', 'x-internal']) {
    const out = downstreamHeaders(['Connection', value, 'X-Internal', 'secret', 'keep-alivf', 'v', 'Content-Type', 'text/plain'].map((s) => Buffer.from(s)));
    const names = out.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    t.ok(names.includes('content-type'), `${value}: ordinary header kept`);
    t.equal(names.includes('x-internal'), value !== 'x-internal', `${value}: X-Internal dropped only when named`);
    t.equal(names.includes('keep-alivf'), value !== 'keep-alivf', `${value}: a 10-character token that is not keep-alive is honoured`);
  }
});
