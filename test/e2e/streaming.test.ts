/**
 * Large bodies stream through the proxy with bounded memory. Switchyard runs
 * in a child process so its RSS is measured apart from this process, which
 * generates the upload, runs the upstream and counts the download. The RSS
 * bound is a memory assertion (generous, far below the body size), not a
 * timing: a proxy that buffered bodies or ignored backpressure would grow by
 * hundreds of megabytes.
 */
import t from 'tap';
import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { rm } from 'node:fs/promises';
import { startUpstream } from '../helpers/upstream.js';
import { request, tempDir } from '../helpers/http.js';
import { RssSampler, spawnSwitchyard, writeChildConfig } from '../helpers/child.js';

const MiB = 1024 * 1024;
const SIZE = 512 * MiB;
/** Growth allowed above the RSS measured after a warm-up request. */
const RSS_BOUND = 200 * MiB;

/** generated — a Readable of `total` bytes made on the fly from one reused chunk (never held in memory). */
function generated(total: number): Readable {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let left = total;
  return new Readable({
    highWaterMark: 64 * 1024,
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(chunk.length, left);
      left -= n;
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    },
  });
}

t.test('large bodies stream through a child Switchyard with bounded memory', async (t) => {
  const up = await startUpstream('blue-1');
  t.teardown(() => up.close());
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = await writeChildConfig(dir, { blue: [up.address] }, { log: { level: 'warn' } });
  const sy = await spawnSwitchyard(t, config);

  // One request first, so the starting RSS includes the upstream connection pool.
  t.equal((await request(`${sy.url}/`)).body, 'blue-1');
  const baseline = await sy.rssBytes();

  await t.test(`a ${SIZE / MiB} MiB upload arrives complete and proxy memory does not grow with it`, async (t) => {
    const sampler = new RssSampler(sy.pid);
    t.teardown(() => sampler.stop());
    const started = performance.now();
    const answer = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(`${sy.url}/upload`, {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(SIZE) },
      });
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (s: string) => {
          body += s;
        });
        res.on('end', () => resolve(body));
        res.on('error', reject);
      });
      pipeline(generated(SIZE), req).catch(reject);
    });
    await sampler.sample();
    sampler.stop();
    const ms = performance.now() - started;
    t.same(JSON.parse(answer), { bytes: SIZE, name: 'blue-1' }, 'the upstream counted every byte');
    t.ok(sampler.samples >= 3, `RSS was sampled during the transfer (${sampler.samples} samples)`);
    const growth = sampler.peak - baseline;
    t.ok(growth < RSS_BOUND, `peak RSS grew by ${(growth / MiB).toFixed(1)} MiB over the starting RSS (bound ${RSS_BOUND / MiB} MiB; start ${(baseline / MiB).toFixed(1)} MiB; ${Math.round(ms)} ms)`);
  });

  await t.test(`a ${SIZE / MiB} MiB download read with pauses arrives complete and proxy memory does not grow with it`, async (t) => {
    const sampler = new RssSampler(sy.pid);
    t.teardown(() => sampler.stop());
    const started = performance.now();
    // Pause the client 4 times for 200 ms: the proxy must stop reading from the
    // upstream meanwhile, or it would buffer what loopback delivers in that time.
    const pauseEvery = SIZE / 4;
    let pauses = 0;
    const got = await new Promise<{ bytes: number; length: string | undefined }>((resolve, reject) => {
      httpRequest(`${sy.url}/download?bytes=${SIZE}`, { agent: false }, (res) => {
        let bytes = 0;
        let nextPause = pauseEvery / 2;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (bytes >= nextPause && bytes < SIZE) {
            nextPause += pauseEvery;
            pauses++;
            res.pause();
            setTimeout(() => res.resume(), 200);
          }
        });
        res.on('end', () => resolve({ bytes, length: res.headers['content-length'] }));
        res.on('error', reject);
      })
        .on('error', reject)
        .end();
    });
    await sampler.sample();
    sampler.stop();
    const ms = performance.now() - started;
    t.equal(got.length, String(SIZE), 'Content-Length relayed');
    t.equal(got.bytes, SIZE, 'every byte arrived');
    t.equal(pauses, 4, 'the client paused 4 times');
    t.ok(sampler.samples >= 3, `RSS was sampled during the transfer (${sampler.samples} samples)`);
    const growth = sampler.peak - baseline;
    t.ok(growth < RSS_BOUND, `peak RSS grew by ${(growth / MiB).toFixed(1)} MiB over the starting RSS (bound ${RSS_BOUND / MiB} MiB; start ${(baseline / MiB).toFixed(1)} MiB; ${Math.round(ms)} ms)`);
  });

  const state = await sy.api('GET', '/api/v1/state');
  t.match(state.json, { pools: { blue: { inflight: 0 } } }, 'nothing left in flight');
});
