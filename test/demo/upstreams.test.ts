import t from 'tap';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { startDemoUpstreams } from '../../src/demo/upstreams.js';
import { request } from '../helpers/http.js';

t.test('each demo server binds and answers with its pool-relative name', async (t) => {
  const logged: object[] = [];
  const demo = await startDemoUpstreams(
    [
      { pool: 'blue', id: 'b1', host: '127.0.0.1', port: 0 },
      { pool: 'blue', id: 'b2', host: '127.0.0.1', port: 0 },
      { pool: 'green', id: 'g1', host: '127.0.0.1', port: 0 },
    ],
    { info: (obj) => logged.push(obj) },
  );
  t.teardown(() => demo.close());

  t.same(
    demo.servers.map((s) => s.name),
    ['blue-1', 'blue-2', 'green-1'],
  );
  t.equal(logged.length, 3, 'one log line per server');
  for (const s of demo.servers) {
    t.not(s.port, 0, `${s.name} bound a real port`);
    const res = await request(`http://127.0.0.1:${s.port}/anything?x=1`, { headers: { 'x-switchyard-pool': s.pool } });
    t.equal(res.status, 200);
    t.equal(res.body, `hello from ${s.name} (127.0.0.1:${s.port})\n`);
    t.match(res.headers['content-type'], /^text\/plain/);
    t.equal(res.headers['x-demo-server'], s.name);
    t.equal(res.headers['x-demo-saw-pool'], s.pool);

    const health = await request(`http://127.0.0.1:${s.port}/healthz`);
    t.equal(health.status, 200);
    t.equal(health.body, 'ok');
  }
});

t.test('a request without the pool header gets no x-demo-saw-pool, and a POST body is consumed', async (t) => {
  const demo = await startDemoUpstreams([{ pool: 'green', id: 'g', host: '127.0.0.1', port: 0 }]);
  t.teardown(() => demo.close());
  const port = demo.servers[0]!.port;
  const res = await request(`http://127.0.0.1:${port}/form`, { method: 'POST', body: Buffer.alloc(256 * 1024) });
  t.equal(res.status, 200);
  t.equal(res.headers['x-demo-server'], 'green-1');
  t.equal(res.headers['x-demo-saw-pool'], undefined);
});

t.test('a port already in use rejects naming the address and leaves nothing running', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const taken = (blocker.address() as AddressInfo).port;

  let startedPort = 0;
  await t.rejects(
    startDemoUpstreams(
      [
        { pool: 'blue', id: 'b1', host: '127.0.0.1', port: 0 },
        { pool: 'blue', id: 'b2', host: '127.0.0.1', port: taken },
      ],
      {
        info: (obj) => {
          startedPort = (obj as { address: string }).address.split(':').map(Number)[1] ?? 0;
        },
      },
    ),
    { message: `demo upstream: 127.0.0.1:${taken} is already in use` },
  );
  t.not(startedPort, 0);
  await t.rejects(request(`http://127.0.0.1:${startedPort}/`), { code: 'ECONNREFUSED' }, 'the first server was closed');
});

t.test('close is idempotent and closes every server', async (t) => {
  const demo = await startDemoUpstreams([{ pool: 'blue', id: 'b', host: '127.0.0.1', port: 0 }]);
  const port = demo.servers[0]!.port;
  await Promise.all([demo.close(), demo.close()]);
  await demo.close();
  await t.rejects(request(`http://127.0.0.1:${port}/`), { code: 'ECONNREFUSED' });
});
