/**
 * An upstream that answers before it has read the request body (an early 413
 * or 401 to an upload) — common, and a trap for a proxy: undici ends the body
 * stream as soon as the response is complete, and a Node server whose request
 * stream is gone stops reading the client's connection. The client must get
 * the answer, and its keep-alive connection must stay usable for the next
 * request. A raw socket makes the timing deterministic: the rest of the body
 * is sent only after the early answer has arrived.
 */
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { startSwitchyard } from '../helpers/app.js';
import { startUpstream } from '../helpers/upstream.js';
import { once, waitFor } from '../helpers/wait.js';

const BODY = 1024 * 1024;
const FIRST = 64 * 1024;

/** collect — everything the socket receives, as latin1 text. */
function collect(socket: Socket): { text: () => string } {
  let text = '';
  socket.setEncoding('latin1').on('data', (s: string) => {
    text += s;
  });
  return { text: () => text };
}

t.test('an early answer to an upload reaches the client, and the keep-alive connection serves the next request', async (t) => {
  const up = await startUpstream('blue-1');
  t.teardown(() => up.close());
  const sy = await startSwitchyard(t, { blue: { servers: [up.address] } });
  const [host, port] = sy.url.replace('http://', '').split(':') as [string, string];
  for (let round = 0; round < 3; round++) {
    const socket = connect(Number(port), host);
    t.teardown(() => socket.destroy());
    await once(socket, 'connect');
    const got = collect(socket);
    socket.write(`POST /status/413 HTTP/1.1\r\nHost: x\r\nContent-Length: ${BODY}\r\n\r\n`);
    socket.write(Buffer.alloc(FIRST, 0x61));
    await waitFor(() => /^HTTP\/1\.1 413 [\s\S]*\r\n\r\n(?:6\r\n)?blue-1/.test(got.text()), { timeoutMs: 5000, message: 'the early 413 arrives while the body is still being sent' });
    t.pass(`round ${round + 1}: 413 relayed before the body was complete`);
    // The rest of the body, then a second request on the same connection.
    socket.write(Buffer.alloc(BODY - FIRST, 0x62));
    socket.write('GET /next HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => /HTTP\/1\.1 200 [\s\S]*\r\n\r\n(?:6\r\n)?blue-1/.test(got.text()), { timeoutMs: 5000, message: 'the next request on the same connection is answered' });
    t.pass(`round ${round + 1}: the connection stayed usable`);
    socket.end();
  }
  t.equal(up.requestsByPath.get('/next'), 3, 'each follow-up request reached the upstream');
});
