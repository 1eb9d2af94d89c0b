/**
 * HTTP/2 clients through a TLS listener (ALPN h2) to HTTP/1.1 upstreams: the
 * same hot path as HTTP/1.1 — headers (no pseudo-headers upstream, :authority
 * as Host), bodies both ways with backpressure, local answers, client aborts,
 * metrics, and a switch during h2 traffic moving new streams to green.
 */
import t, { type Test } from 'tap';
import { connect, type ClientHttp2Session } from 'node:http2';
import { rm } from 'node:fs/promises';
import { startSwitchyard } from '../helpers/app.js';
import { makeCa, makeCert } from '../helpers/certs.js';
import { tempDir } from '../helpers/http.js';
import { getState, metric } from '../helpers/observe.js';
import { h2Request } from '../helpers/tls.js';
import { startUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';

// Active probes are not what these tests are about; on a loaded CI box a 100 ms probe timeout could flap a server down.
const NO_PROBES = { enabled: false };

const MiB = 1024 * 1024;

async function setup(t: Test) {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = makeCa(dir);
  makeCert(dir, 'default', ca, ['h2.test', '127.0.0.1']);
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  t.teardown(() => blue.close());
  t.teardown(() => green.close());
  const sy = await startSwitchyard(
    t,
    { blue: { servers: [blue.address] }, green: { servers: [green.address] } },
    { health: NO_PROBES, listen: { http: '127.0.0.1:0', admin: '127.0.0.1:0', https: [{ address: '127.0.0.1:0', cert: 'default.crt', key: 'default.key' }] } },
    { dir },
  );
  const address = sy.app.addresses.https[0] as string;
  const session: ClientHttp2Session = connect(`https://${address}`, { ca: ca.pem, servername: 'h2.test' });
  session.on('error', () => undefined);
  t.teardown(() => session.destroy());
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return { sy, blue, green, session, address };
}

t.test('an h2 GET reaches the HTTP/1.1 upstream with Host from :authority and no pseudo-headers', async (t) => {
  const { session, blue } = await setup(t);
  t.equal(session.alpnProtocol, 'h2', 'ALPN negotiated h2');
  const res = await h2Request(session, { ':path': '/headers?x=1', ':authority': 'h2.test:8443', 'x-custom': 'yes' });
  t.equal(res.status, 200);
  t.equal(res.headers['x-upstream'], 'blue');
  t.equal(res.headers['content-type'], 'application/json');
  const seen = JSON.parse(res.body.toString()) as { headers: Record<string, string>; rawHeaders: string[] };
  t.equal(seen.headers.host, 'h2.test:8443', ':authority became Host');
  t.equal(seen.headers['x-custom'], 'yes');
  t.equal(seen.headers['x-forwarded-proto'], 'https');
  t.equal(seen.headers['x-forwarded-host'], 'h2.test:8443');
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1', 'the client address from the h2 session socket');
  t.equal(seen.headers['x-switchyard-pool'], 'blue');
  t.notOk(seen.rawHeaders.some((h, i) => i % 2 === 0 && h.startsWith(':')), 'no pseudo-header forwarded');
  t.equal(blue.requestsByPath.get('/headers'), 1);
});

t.test('an h2 POST of 5 MiB without content-length streams to the upstream; a 5 MiB download streams back', async (t) => {
  const { session } = await setup(t);
  const body = Buffer.alloc(5 * MiB, 0x61);
  const res = await h2Request(session, { ':method': 'POST', ':path': '/upload', 'content-type': 'application/octet-stream' }, body);
  t.equal(res.status, 200);
  t.match(JSON.parse(res.body.toString()), { bytes: 5 * MiB, name: 'blue' });
  const down = await h2Request(session, { ':path': `/download?bytes=${5 * MiB}` });
  t.equal(down.status, 200);
  t.equal(down.body.length, 5 * MiB, 'every byte arrived');
  t.equal(down.headers['content-length'], String(5 * MiB));
  // A bodiless POST (END_STREAM on HEADERS) is forwarded without a body.
  const empty = await h2Request(session, { ':method': 'POST', ':path': '/upload' });
  t.match(JSON.parse(empty.body.toString()), { bytes: 0 });
});

t.test('upstream statuses, local error answers and metrics work for h2 streams', async (t) => {
  const { session, sy, blue } = await setup(t);
  const notFound = await h2Request(session, { ':path': '/status/404' });
  t.equal(notFound.status, 404);
  await blue.close();
  const down = await h2Request(session, { ':path': '/' });
  t.equal(down.status, 502, 'upstream down → 502');
  t.equal(down.headers['x-switchyard-error'], 'SY_ERR_UPSTREAM_CONNECT');
  t.ok((await metric(sy, 'switchyard_requests_total', { pool: 'blue', server: blue.address, code_class: '4xx' })) >= 1, 'h2 requests are counted');
});

t.test('an h2 client resetting its stream aborts the upstream request and frees the slot', async (t) => {
  const { session, sy, blue } = await setup(t);
  const stream = session.request({ ':path': '/hold' });
  stream.on('error', () => undefined);
  await blue.held();
  t.equal((await getState(sy)).pools.blue?.inflight, 1, 'in flight while held');
  stream.close(0x8); // RST_STREAM CANCEL
  await waitFor(async () => (await getState(sy)).pools.blue?.inflight === 0, { message: 'inflight back to 0 after RST_STREAM' });
  await waitFor(async () => (await metric(sy, 'switchyard_client_aborts_total', { pool: 'blue' })) === 1, { message: 'client abort counted' });
  t.pass('aborted stream released');
});

t.test('a switch during h2 traffic moves new streams on the same connection to green', async (t) => {
  const { session, sy } = await setup(t);
  let stop = false;
  const seen: string[] = [];
  const loop = (async () => {
    while (!stop) {
      const r = await h2Request(session, { ':path': '/' });
      if (r.status !== 200) throw new Error(`status ${r.status}`);
      seen.push(r.body.toString());
    }
  })();
  await waitFor(() => seen.length >= 20, { message: 'traffic on blue' });
  const sw = await sy.api('POST', '/api/v1/switch', { to: 'green' });
  t.equal(sw.status, 200, sw.body);
  const after = seen.length;
  await waitFor(() => seen.length >= after + 20, { message: 'traffic after the switch' });
  stop = true;
  await loop;
  // At most the stream in flight when the switch answered can still be blue.
  t.same(seen.slice(after + 1).filter((s) => s !== 'green'), [], 'every stream started after the switch answered went to green');
  t.ok(seen.slice(0, 10).every((s) => s === 'blue'), 'blue before');
  const parallel = await Promise.all(Array.from({ length: 20 }, () => h2Request(session, { ':path': '/' })));
  t.ok(parallel.every((r) => r.body.toString() === 'green'), '20 concurrent streams on one connection, all green');
});

t.test('a response header h2 cannot carry (repeated Content-Type) becomes a 502, not a crash', async (t) => {
  const { createServer } = await import('node:http');
  const odd = createServer((req, res) => {
    req.resume();
    res.setHeader('content-type', ['text/plain', 'text/html']);
    res.end('odd');
  });
  await new Promise<void>((resolve) => odd.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    odd.closeAllConnections();
    odd.close(() => resolve());
  }));
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = makeCa(dir);
  makeCert(dir, 'default', ca, ['127.0.0.1']);
  const port = (odd.address() as { port: number }).port;
  const sy = await startSwitchyard(
    t,
    { blue: { servers: [`127.0.0.1:${port}`], health: { enabled: false } } },
    { health: NO_PROBES, listen: { http: '127.0.0.1:0', admin: '127.0.0.1:0', https: [{ address: '127.0.0.1:0', cert: 'default.crt', key: 'default.key' }] } },
    { dir },
  );
  const session = connect(`https://${sy.app.addresses.https[0] as string}`, { ca: ca.pem });
  session.on('error', () => undefined);
  t.teardown(() => session.destroy());
  const res = await h2Request(session, { ':path': '/' });
  t.equal(res.status, 502);
  t.equal(res.headers['x-switchyard-error'], 'SY_ERR_UPSTREAM_PROTOCOL');
  const plain = await h2Request(session, { ':path': '/' });
  t.equal(plain.status, 502, 'the session survives and answers the next stream');
});

t.test('shutdown sends h2 clients a GOAWAY and lets their open streams finish', async (t) => {
  const { session, sy, blue } = await setup(t);
  const held = h2Request(session, { ':path': '/hold' });
  await blue.held();
  const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
  const stopped = sy.stop();
  await goaway;
  t.pass('GOAWAY received while a stream is open');
  blue.release();
  const res = await held;
  t.equal(res.status, 200, 'the open stream completed');
  t.equal(res.body.toString(), 'blue');
  t.equal(await stopped, true, 'clean stop');
});

t.test('an early upstream answer to an h2 upload reaches the client, and the session stays usable', async (t) => {
  const { session } = await setup(t);
  const stream = session.request({ ':method': 'POST', ':path': '/status/413', 'content-length': String(MiB) });
  stream.on('error', () => undefined);
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    let status = 0;
    let body = '';
    stream.on('response', (h) => {
      status = Number(h[':status']);
    });
    stream.setEncoding('utf8').on('data', (c: string) => {
      body += c;
    });
    stream.on('end', () => resolve({ status, body }));
    stream.on('close', () => resolve({ status, body }));
    stream.on('error', reject);
  });
  // Only part of the body: the upstream answers before the rest is sent.
  stream.write(Buffer.alloc(64 * 1024, 0x61));
  const got = await answer;
  t.same(got, { status: 413, body: 'blue' }, 'the early 413 and its body arrived');
  const next = await h2Request(session, { ':path': '/' });
  t.equal(next.status, 200, 'the session serves the next stream');
});
