/**
 * Process-level behaviour, with Switchyard in a child process: graceful stop
 * on SIGTERM, routing state that survives kill -9, and a start-up that
 * survives a corrupt state file.
 */
import t from 'tap';
import { request as httpRequest } from 'node:http';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { startUpstream } from '../helpers/upstream.js';
import { startSwitchyard } from '../helpers/app.js';
import { request, tempDir } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { spawnSwitchyard, writeChildConfig, type ChildSwitchyard } from '../helpers/child.js';

/** logLines — the child's pino JSON lines, parsed (non-JSON lines skipped). */
function logLines(sy: ChildSwitchyard): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of sy.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a partial line: the child is still writing it
    }
  }
  return out;
}

/** refused — true once a new connection to `url` is refused (the listener closed). */
async function refused(url: string): Promise<boolean> {
  try {
    await request(url, { timeoutMs: 1000 });
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
}

t.test('on SIGTERM the listener stops accepting, the in-flight request completes once released, and the process exits 0', async (t) => {
  const up = await startUpstream('blue-1');
  t.teardown(() => up.close());
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = await writeChildConfig(dir, { blue: [up.address] }, { shutdown: { timeoutMs: 20_000 } });
  const sy = await spawnSwitchyard(t, config);

  let answered = false;
  const inflight = request(`${sy.url}/hold`, { timeoutMs: 20_000 }).then((r) => {
    answered = true;
    return r;
  });
  await up.held();
  sy.proc.kill('SIGTERM');

  await waitFor(() => refused(`${sy.url}/`), { timeoutMs: 10_000, message: 'the proxy listener to refuse new connections' });
  t.pass('new connections are refused while a request is in flight');
  t.notOk(answered, 'the held request is still in flight');
  t.equal(sy.proc.exitCode, null, 'the process waits for it');

  up.release();
  const res = await inflight;
  t.equal(res.status, 200, 'the in-flight request completed');
  t.equal(res.body, 'blue-1');
  const exit = await sy.exited;
  t.same(exit, { code: 0, signal: null }, 'exit code 0');
  const stopped = logLines(sy).find((l) => l.msg === 'switchyard stopped');
  t.match(stopped, { clean: true }, 'the stop was clean (no request cut at the deadline)');
});

t.test('on SIGTERM a large response in flight is delivered completely before the process exits', async (t) => {
  const up = await startUpstream('blue-1');
  t.teardown(() => up.close());
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = await writeChildConfig(dir, { blue: [up.address] }, { shutdown: { timeoutMs: 20_000 } });
  const sy = await spawnSwitchyard(t, config);

  const size = 32 * 1024 * 1024 + 5000; // an odd tail: the last chunk is small, the case that can sit unflushed
  let signalled = false;
  const got = await new Promise<{ bytes: number; complete: boolean }>((resolve, reject) => {
    httpRequest(`${sy.url}/download?bytes=${size}`, { agent: false }, (res) => {
      let bytes = 0;
      let nextPause = 2 * 1024 * 1024;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (!signalled && bytes >= 1024 * 1024) {
          // Stop reading while the signal lands, so the proxy holds unsent data when it starts stopping.
          signalled = true;
          res.pause();
          sy.proc.kill('SIGTERM');
          void waitFor(() => refused(`${sy.url}/`), { timeoutMs: 10_000 }).then(() => res.resume(), reject);
        } else if (signalled && bytes >= nextPause) {
          // Then read slowly, so the proxy's socket buffers are full when the upstream finishes.
          nextPause += 512 * 1024;
          res.pause();
          setTimeout(() => res.resume(), 5);
        }
      });
      res.on('error', () => undefined);
      res.on('close', () => resolve({ bytes, complete: res.complete }));
    })
      .on('error', reject)
      .end();
  });
  t.ok(signalled, 'SIGTERM was sent mid-response');
  t.equal(got.bytes, size, 'every byte arrived');
  t.ok(got.complete, 'the response ended normally');
  t.same(await sy.exited, { code: 0, signal: null });
});

t.test('the routing state survives kill -9: a new process on the same config starts with green live and the history', async (t) => {
  const blue = await startUpstream('blue-1');
  const green = await startUpstream('green-1');
  t.teardown(() => Promise.all([blue.close(), green.close()]));
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = await writeChildConfig(dir, { blue: [blue.address], green: [green.address] });

  const first = await spawnSwitchyard(t, config);
  t.equal((await request(`${first.url}/`)).body, 'blue-1', 'blue is live at first');
  const sw = await first.api('POST', '/api/v1/switch', { to: 'green' });
  t.equal(sw.status, 200, 'the switch answered (after the state was written)');
  t.match(sw.json, { from: 'blue', to: 'green', generation: 2 });
  first.proc.kill('SIGKILL');
  t.same(await first.exited, { code: null, signal: 'SIGKILL' });

  const second = await spawnSwitchyard(t, config);
  const state = await second.api('GET', '/api/v1/state');
  t.match(state.json, { live: 'green', previous: 'blue', generation: 2, weights: { blue: 0, green: 100 } });
  const history = await second.api('GET', '/api/v1/history');
  t.match(history.json, { history: [{ action: 'switch', from: 'blue', to: 'green', generation: 2 }] });
  t.equal((await request(`${second.url}/`)).body, 'green-1', 'traffic goes to green after the restart');
  // Logs are buffered (async pino); a graceful stop flushes them.
  second.proc.kill('SIGTERM');
  t.same(await second.exited, { code: 0, signal: null });
  const loaded = logLines(second).find((l) => l.msg === 'routing state loaded');
  t.match(loaded, { restored: true, live: 'green', generation: 2 }, 'the start-up log says the state was restored');
});

t.test('a corrupt state file is logged and ignored: the process starts with the config live pool and keeps running', async (t) => {
  const blue = await startUpstream('blue-1');
  const green = await startUpstream('green-1');
  t.teardown(() => Promise.all([blue.close(), green.close()]));
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = await writeChildConfig(dir, { blue: [blue.address], green: [green.address] });
  await writeFile(config.stateFile, '{"generation": 7, "live": "gre\u0000\u0001 garbage ]]]');

  const sy = await spawnSwitchyard(t, config);
  const state = await sy.api('GET', '/api/v1/state');
  t.match(state.json, { live: 'blue', generation: 1 }, 'the config live pool');
  t.equal((await request(`${sy.url}/`)).body, 'blue-1', 'and it serves');
  t.equal(sy.proc.exitCode, null, 'the process did not exit');

  const sw = await sy.api('POST', '/api/v1/switch', { to: 'green' });
  t.equal(sw.status, 200, 'a switch still works');
  const persisted = JSON.parse(await readFile(config.stateFile, 'utf8')) as { live: string };
  t.equal(persisted.live, 'green', 'and replaces the corrupt file with a valid one');
  t.equal(sy.proc.exitCode, null, 'still running');

  // Logs are buffered (async pino); a graceful stop flushes them.
  sy.proc.kill('SIGTERM');
  t.same(await sy.exited, { code: 0, signal: null }, 'a normal stop, exit 0');
  const problem = logLines(sy).find((l) => l.msg === 'state file unusable; starting from the config values');
  t.match(problem, { level: 50, problem: String }, 'the problem was logged at error level');
  t.match(logLines(sy).find((l) => l.msg === 'routing state loaded'), { restored: false, live: 'blue' });
});

/**
 * pausedDownload — GET /download?bytes=size, pause at the first chunk, run
 * `whilePaused`, then read the rest; resolves with what arrived.
 */
function pausedDownload(url: string, size: number, whilePaused: () => Promise<unknown>): Promise<{ bytes: number; complete: boolean }> {
  return new Promise((resolve, reject) => {
    httpRequest(`${url}/download?bytes=${size}`, { agent: false }, (res) => {
      let bytes = 0;
      let paused = false;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (!paused) {
          paused = true;
          res.pause();
          whilePaused().then(() => res.resume(), reject);
        }
      });
      res.on('error', () => undefined);
      res.on('close', () => resolve({ bytes, complete: res.complete }));
    })
      .on('error', reject)
      .end();
  });
}

t.test('stopping never cuts the tail of a response whose upstream already finished, however slow the client', async (t) => {
  // The hazard: the upstream has sent everything, so the request looks done,
  // but the last bytes still sit in the proxy's socket queue because the
  // client's TCP window is full; stop() then destroys the connection and they
  // are lost. It only shows for response sizes at the edge of what the kernel
  // buffers hold, so first find that edge: the largest download whose exchange
  // ends while the client reads nothing at all.
  const up = await startUpstream('blue-1');
  t.teardown(() => up.close());
  const quiet = { health: { enabled: false }, shutdown: { timeoutMs: 10_000 } };
  const probe = await startSwitchyard(t, { blue: { servers: [up.address] } }, quiet);
  const probePool = probe.app.router.pools[0]!;
  const endsWhilePaused = async (size: number): Promise<boolean> => {
    let ended = false;
    const got = await pausedDownload(probe.url, size, () =>
      waitFor(() => probePool.inflight === 0, { timeoutMs: 150, intervalMs: 2 }).then(
        () => (ended = true),
        () => (ended = false),
      ),
    );
    if (got.bytes !== size) throw new Error(`probe download of ${size} bytes got ${got.bytes}`);
    return ended;
  };
  // A wrong verdict (say, a probe slowed by a busy machine) only moves the
  // search; the assertion below holds for every size.
  let lo = 64 * 1024;
  let hi = 8 * 1024 * 1024;
  const ok = await endsWhilePaused(lo);
  while (ok && hi <= 64 * 1024 * 1024 && (await endsWhilePaused(hi))) {
    lo = hi;
    hi *= 2;
  }
  if (!ok || hi > 64 * 1024 * 1024) {
    // Not a failure of the product: the edge case cannot be set up here.
    t.pass(`SKIPPED: cannot bracket this machine's socket buffer size between ${lo} and ${hi} bytes`);
    return;
  }
  while (hi - lo > 1024) {
    const mid = Math.floor((lo + hi) / 2);
    if (await endsWhilePaused(mid)) lo = mid;
    else hi = mid;
  }
  t.comment(`a paused client lets the proxy finish responses up to ~${lo} bytes`);

  const cut: string[] = [];
  for (let size = lo - 12 * 1024; size <= lo + 2048; size += 2048) {
    const sy = await startSwitchyard(t, { blue: { servers: [up.address] } }, quiet);
    const pool = sy.app.router.pools[0]!;
    const got = await pausedDownload(sy.url, size, async () => {
      const idle = await waitFor(() => pool.inflight === 0, { timeoutMs: 150, intervalMs: 2 }).then(
        () => true,
        () => false,
      );
      const stopping = sy.stop();
      // With nothing in flight, stop() completes (and closes every connection) before the client reads on.
      if (idle) t.equal(await stopping, true, `stop with a ${size}-byte response pending on a paused client`);
    });
    if (got.bytes !== size || !got.complete) cut.push(`${size} bytes: got ${got.bytes}`);
    await sy.stop();
  }
  t.same(cut, [], 'every response arrived whole');
});
