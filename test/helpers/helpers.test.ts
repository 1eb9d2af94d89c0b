import t from 'tap';
import { createServer } from 'node:net';
import { stat, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { startUpstream } from './upstream.js';
import { freePort, request, tempDir } from './http.js';
import { waitFor } from './wait.js';

t.test('the default route answers the upstream name and counts requests by path', async (t) => {
  const up = await startUpstream('blue-1');
  t.teardown(() => up.close());
  t.match(up.address, /^127\.0\.0\.1:\d+$/);
  const res = await request(`http://${up.address}/some/path?q=1`, { headers: { 'x-test': 'yes' } });
  t.equal(res.status, 200);
  t.equal(res.body, 'blue-1');
  t.equal(res.headers['x-upstream'], 'blue-1');
  t.equal(up.requests, 1);
  t.equal(up.requestsByPath.get('/some/path'), 1);
  t.equal(up.lastHeaders?.['x-test'], 'yes');
});

t.test('health answers the settable status and is not counted', async (t) => {
  const up = await startUpstream('h');
  t.teardown(() => up.close());
  t.equal((await request(`http://${up.address}/healthz`)).status, 200);
  up.health = 503;
  t.equal((await request(`http://${up.address}/healthz`)).status, 503);
  t.equal(up.requests, 0);
});

t.test('/hold answers only after release()', async (t) => {
  const up = await startUpstream('held');
  t.teardown(() => up.close());
  let answered = false;
  const first = request(`http://${up.address}/hold`).then((r) => {
    answered = true;
    return r;
  });
  const second = request(`http://${up.address}/hold`);
  await up.held(2);
  t.equal(answered, false, 'nothing answered while held');
  // A plain request is not blocked by the held ones.
  t.equal((await request(`http://${up.address}/`)).body, 'held');
  t.equal(answered, false);
  up.release();
  const [a, b] = await Promise.all([first, second]);
  t.equal(a.status, 200);
  t.equal(a.body, 'held');
  t.equal(b.body, 'held');
  t.equal(up.requestsByPath.get('/hold'), 2);
});

t.test('/slow answers after the delay', async (t) => {
  const up = await startUpstream('slow');
  t.teardown(() => up.close());
  const started = Date.now();
  const res = await request(`http://${up.address}/slow?ms=50`);
  t.equal(res.body, 'slow');
  t.ok(Date.now() - started >= 45, 'took about the asked time');
});

t.test('/download streams exactly the asked number of bytes', async (t) => {
  const up = await startUpstream('dl');
  t.teardown(() => up.close());
  const size = 5 * 1024 * 1024 + 123;
  const bytes = await new Promise<number>((resolve, reject) => {
    httpRequest(`http://${up.address}/download?bytes=${size}`, { agent: false }, (res) => {
      t.equal(res.headers['content-length'], String(size));
      let n = 0;
      res.on('data', (c: Buffer) => {
        n += c.length;
      });
      res.on('end', () => resolve(n));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
  t.equal(bytes, size);
  const empty = await request(`http://${up.address}/download?bytes=0`);
  t.equal(empty.body, '');
});

t.test('POST /upload counts the streamed body bytes and the POST', async (t) => {
  const up = await startUpstream('ul');
  t.teardown(() => up.close());
  const res = await request(`http://${up.address}/upload`, { method: 'POST', body: Buffer.alloc(3 * 1024 * 1024 + 7, 1) });
  t.same(JSON.parse(res.body), { bytes: 3 * 1024 * 1024 + 7, name: 'ul' });
  t.equal(up.postsReceived, 1);
  await request(`http://${up.address}/other`, { method: 'POST', body: 'x' });
  t.equal(up.postsReceived, 2, 'a POST to any path counts');
});

t.test('/status/NNN and /headers', async (t) => {
  const up = await startUpstream('s');
  t.teardown(() => up.close());
  t.equal((await request(`http://${up.address}/status/503`)).status, 503);
  t.equal((await request(`http://${up.address}/status/204`)).status, 204);
  const echoed = JSON.parse((await request(`http://${up.address}/headers`, { headers: { 'X-Mixed': 'v' } })).body) as {
    headers: Record<string, string>;
    rawHeaders: string[];
  };
  t.equal(echoed.headers['x-mixed'], 'v');
  t.ok(echoed.rawHeaders.includes('X-Mixed'), 'raw header case is kept');
});

t.test('reset destroys the socket without an answer, but the request still counts', async (t) => {
  const up = await startUpstream('crash');
  t.teardown(() => up.close());
  up.reset = true;
  await t.rejects(request(`http://${up.address}/upload`, { method: 'POST', body: 'abc' }), { code: 'ECONNRESET' });
  t.equal(up.requests, 1);
  t.equal(up.postsReceived, 1);
  t.equal((await request(`http://${up.address}/healthz`)).status, 200, 'health still answers');
  up.reset = false;
  t.equal((await request(`http://${up.address}/`)).body, 'crash');
});

t.test('close is idempotent and ends held requests', async (t) => {
  const up = await startUpstream('c');
  const pending = request(`http://${up.address}/hold`);
  await up.held();
  await Promise.all([up.close(), up.close()]);
  await t.rejects(pending);
  await t.rejects(request(`http://${up.address}/`), { code: 'ECONNREFUSED' });
});

t.test('waitFor returns the truthy value, and times out with a clear message', async (t) => {
  let n = 0;
  t.equal(await waitFor(() => (++n >= 3 ? n : 0), { intervalMs: 1 }), 3);
  await t.rejects(waitFor(() => false, { timeoutMs: 30, message: 'never' }), {
    message: /timed out after 30 ms waiting for never/,
  });
  await t.rejects(
    waitFor(
      () => {
        throw new Error('boom');
      },
      { timeoutMs: 20 },
    ),
    { message: /last attempt threw: boom/ },
  );
});

t.test('freePort gives a bindable port and tempDir a fresh directory', async (t) => {
  const port = await freePort();
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.ok((await stat(dir)).isDirectory());
});
