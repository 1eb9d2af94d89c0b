/**
 * Server-sent events (and any long streaming response) pass through the HTTP
 * path unbuffered: each event reaches the client before the upstream writes
 * the next one. The upstream writes event N+1 only once the client has
 * received event N, so a proxy that held back even one chunk would stall the
 * stream and fail the test at its deadline — the proof is the order of
 * events, not a timing.
 */
import t from 'tap';
import { createServer, request as httpRequest, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { startSwitchyard } from '../helpers/app.js';

const EVENTS = 20;

t.test('SSE events go through one by one: each arrives before the upstream writes the next', async (t) => {
  const log: string[] = [];
  let stream: ServerResponse | undefined;
  let sent = 0;
  const writeNext = (): void => {
    const res = stream;
    if (res === undefined) throw new Error('no SSE stream open');
    if (sent === EVENTS) {
      res.end();
      return;
    }
    log.push(`wrote ${sent}`);
    // Small events with gaps between them: exactly what a buffering proxy would sit on.
    res.write(`id: ${sent}\nevent: tick\ndata: {"n":${sent}}\n\n`);
    sent++;
  };
  const upstream = createServer((req, res) => {
    req.resume();
    if (req.url === '/healthz') {
      res.end('ok');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    stream = res;
    writeNext();
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  t.teardown(() => {
    upstream.closeAllConnections();
    upstream.close();
  });
  const address = `127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const sy = await startSwitchyard(t, { blue: { servers: [address] } });

  const done = new Promise<{ status: number; type: string | undefined; received: number[] }>((resolve, reject) => {
    const req = httpRequest(`${sy.url}/events`, { headers: { accept: 'text/event-stream' }, agent: false });
    req.setTimeout(10_000, () => req.destroy(new Error('the stream stalled: an event was held back')));
    req.on('error', reject);
    req.on('response', (res) => {
      const received: number[] = [];
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const m = /^data: \{"n":(\d+)\}$/m.exec(event);
          if (m === null) {
            reject(new Error(`malformed event: ${JSON.stringify(event)}`));
            return;
          }
          const n = Number(m[1]);
          received.push(n);
          log.push(`received ${n}`);
          // Only now may the upstream write the next event.
          writeNext();
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], received }));
      res.on('error', reject);
    });
    req.end();
  });

  const result = await done;
  t.equal(result.status, 200);
  t.equal(result.type, 'text/event-stream');
  t.same(result.received, Array.from({ length: EVENTS }, (_, i) => i), 'every event, in order');
  const expected = Array.from({ length: EVENTS }, (_, i) => [`wrote ${i}`, `received ${i}`]).flat();
  t.same(log, expected, 'each event was received before the next was written');
});
