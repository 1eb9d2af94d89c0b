/**
 * Multi-core mode (`workers: 2`): what the primary does for its workers —
 * one set of health probes whose verdicts every worker follows, passive
 * ejections reported back, raw TCP listeners counted over both workers,
 * certificate reloads on every worker — and a start that fails cleanly.
 */
import { spawn } from 'node:child_process';
import { writeFileSync, copyFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { spawnSwitchyard, writeChildConfig } from '../helpers/child.js';
import { makeCa, makeCert } from '../helpers/certs.js';
import { freePort, request, tempDir } from '../helpers/http.js';
import { sampleValue } from '../helpers/observe.js';
import { readLine, startTcpUpstream, tcpConnect } from '../helpers/tcp.js';
import { servedCn } from '../helpers/tls.js';
import { startUpstream } from '../helpers/upstream.js';
import { once, waitFor } from '../helpers/wait.js';
import { closed, echo, openWs, startWsUpstream, wsUrl } from '../helpers/ws.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface ServerState {
  readonly id: string;
  readonly healthy: boolean;
  readonly ejected: boolean;
}
interface StateBody {
  readonly pools: Record<string, { servers: ServerState[] }>;
  readonly tcp: { connections: number; pools: Record<string, { connections: number }> }[];
}

t.test('multi-core: the primary probes each server once per interval, and every worker follows its verdicts', async (t) => {
  const b1 = await startUpstream('blue-1');
  const b2 = await startUpstream('blue-2');
  t.teardown(() => Promise.all([b1.close(), b2.close()]));
  const dir = await tempDir();
  const intervalMs = 100;
  const config = await writeChildConfig(dir, { blue: [b1.address, b2.address] }, { workers: 2, health: { enabled: true, intervalMs, timeoutMs: 100, rise: 1, fall: 1 } });
  const sy = await spawnSwitchyard(t, config);
  await waitFor(async () => (await sy.api('GET', '/readyz')).status === 200, { message: 'ready' });

  // One set of probes: over a measured window, about window/interval checks per server, not one set per process.
  const start = b2.healthChecks;
  const started = performance.now();
  await waitFor(() => performance.now() - started >= 1500, { intervalMs: 50, timeoutMs: 5000 });
  const probes = b2.healthChecks - start;
  const expected = (performance.now() - started) / intervalMs;
  t.ok(probes <= expected * 1.4 + 2, `${probes} probes in ${Math.round(performance.now() - started)} ms at ${intervalMs} ms: one set, not one per process (expected ≈${Math.round(expected)})`);
  t.ok(probes >= 3, 'the server is probed');

  b2.health = 500;
  await waitFor(async () => ((await sy.api('GET', '/api/v1/state')).json as StateBody).pools.blue?.servers[1]?.healthy === false, { message: 'blue-2 down in the state view' });
  // New connections are handed to both workers in turn: none may still route to blue-2.
  for (let i = 0; i < 20; i++) t.equal((await request(`${sy.url}/`, { headers: { connection: 'close' } })).body, 'blue-1', 'a worker avoids the down server');
  b2.health = 200;
  await waitFor(async () => ((await sy.api('GET', '/api/v1/state')).json as StateBody).pools.blue?.servers[1]?.healthy === true, { message: 'blue-2 up again' });
  const bodies = new Set<string>();
  for (let i = 0; i < 20; i++) bodies.add((await request(`${sy.url}/`, { headers: { connection: 'close' } })).body);
  t.same([...bodies].sort(), ['blue-1', 'blue-2'], 'both servers take traffic again');
});

t.test('multi-core: a server a worker ejects shows ejected in the state view and counts in ejections_total', async (t) => {
  const b1 = await startUpstream('blue-1');
  const b2 = await startUpstream('blue-2');
  t.teardown(() => Promise.all([b1.close(), b2.close()]));
  b2.reset = true;
  const dir = await tempDir();
  const config = await writeChildConfig(dir, { blue: [b1.address, b2.address] }, {
    workers: 2,
    pools: { blue: { servers: [{ address: b1.address }, { address: b2.address }], passive: { consecutiveFailures: 1, baseEjectionMs: 60_000, maxEjectionMs: 60_000 } } },
    proxy: { retries: 1 },
  });
  const sy = await spawnSwitchyard(t, config);
  // GETs are retried on the other server after a reset, so the client sees no failure while blue-2 gets ejected.
  for (let i = 0; i < 10; i++) t.equal((await request(`${sy.url}/`, { headers: { connection: 'close' } })).body, 'blue-1');
  await waitFor(async () => ((await sy.api('GET', '/api/v1/state')).json as StateBody).pools.blue?.servers[1]?.ejected === true, { message: 'blue-2 ejected in the primary view' });
  const metrics = (await sy.api('GET', '/metrics')).body;
  t.ok(sampleValue(metrics, 'switchyard_ejections_total', { pool: 'blue', server: b2.address }) >= 1, 'ejection counted');
  t.equal(sampleValue(metrics, 'switchyard_server_ejected', { pool: 'blue', server: b2.address }), 1, 'ejected gauge from the primary');
});

t.test('multi-core: a raw TCP listener on both workers; connections summed in the state view; a switch moves new ones', async (t) => {
  const blue = await startTcpUpstream(t, 'blue-tcp', { greet: true });
  const green = await startTcpUpstream(t, 'green-tcp', { greet: true });
  const h1 = await startUpstream('blue-1');
  const h2 = await startUpstream('green-1');
  t.teardown(() => Promise.all([h1.close(), h2.close()]));
  const dir = await tempDir();
  const tcpPort = await freePort();
  const config = await writeChildConfig(dir, { blue: [h1.address], green: [h2.address] }, {
    workers: 2,
    listen: { tcp: [{ name: 'db', address: `127.0.0.1:${tcpPort}`, pools: { blue: { servers: [{ address: blue.address }] }, green: { servers: [{ address: green.address }] } } }] },
  });
  const sy = await spawnSwitchyard(t, config);
  const open = [];
  for (let i = 0; i < 6; i++) {
    const c = await tcpConnect(`127.0.0.1:${tcpPort}`);
    t.teardown(() => c.destroy());
    t.equal(await readLine(c), 'blue-tcp', 'greeted by blue');
    open.push(c);
  }
  await waitFor(async () => ((await sy.api('GET', '/api/v1/state')).json as StateBody).tcp[0]?.connections === 6, { message: 'six connections summed over the workers' });
  t.equal((await sy.api('POST', '/api/v1/switch', { to: 'green' })).status, 200);
  for (let i = 0; i < 4; i++) {
    const c = await tcpConnect(`127.0.0.1:${tcpPort}`);
    t.teardown(() => c.destroy());
    t.equal(await readLine(c), 'green-tcp', 'a connection after the switch goes to green');
  }
  const state = (await sy.api('GET', '/api/v1/state')).json as StateBody;
  t.equal(state.tcp[0]?.pools.blue?.connections, 6, 'the blue connections stay open (onSwitch: keep)');
  for (const c of open) c.destroy();
  await waitFor(async () => ((await sy.api('GET', '/api/v1/state')).json as StateBody).tcp[0]?.pools.blue?.connections === 0, { message: 'blue connections gone' });
});

t.test('multi-core: WebSockets on both workers count as blue\'s long-lived connections; onSwitch: drain closes them in every worker', async (t) => {
  const blue = await startWsUpstream('blue-1');
  const green = await startWsUpstream('green-1');
  t.teardown(() => Promise.all([blue.close(), green.close()]));
  const dir = await tempDir();
  const config = await writeChildConfig(dir, { blue: [blue.address], green: [green.address] }, {
    workers: 2,
    pools: { blue: { servers: [{ address: blue.address }], onSwitch: 'drain', drainTimeoutMs: 500 }, green: { servers: [{ address: green.address }] } },
  });
  const sy = await spawnSwitchyard(t, config);
  // Each WebSocket is its own connection: the primary hands them to the two workers in turn.
  const old = await Promise.all(Array.from({ length: 8 }, () => openWs(wsUrl(sy.url))));
  t.teardown(() => old.forEach((o) => o.ws.terminate()));
  for (const o of old) t.equal(await echo(o.ws, 'who'), 'blue-1');
  await waitFor(async () => ((await sy.api('GET', '/api/v1/state')).json as { pools: { blue: { longLived: number } } }).pools.blue.longLived === 8, { message: 'eight long-lived connections summed over the workers' });
  const codes = Promise.all(old.map((o) => closed(o.ws)));
  const res = await sy.api('POST', '/api/v1/switch', { to: 'green', wait: 'drained' });
  t.match(res.json, { to: 'green', drained: true }, 'drained once every worker closed its share');
  t.same(new Set(await codes), new Set([1006]), 'all eight closed by the proxy');
  t.match((await sy.api('GET', '/api/v1/state')).json, { pools: { blue: { status: 'idle', longLived: 0 } } });
  const fresh = await openWs(wsUrl(sy.url));
  t.teardown(() => fresh.ws.terminate());
  t.equal(fresh.headers['x-upstream'], 'green-1', 'a new WebSocket lands on green');
});

t.test('multi-core: POST /api/v1/reload-certs and SIGHUP reload every worker; a bad file is refused and the old certificate stays', async (t) => {
  const dir = await tempDir();
  const ca = makeCa(dir);
  makeCert(dir, 'site', ca, ['old.test', '127.0.0.1']);
  const up = await startUpstream('blue-1');
  t.teardown(() => up.close());
  const httpsPort = await freePort();
  const config = await writeChildConfig(dir, { blue: [up.address] }, {
    workers: 2,
    listen: { https: [{ address: `127.0.0.1:${httpsPort}`, cert: 'site.crt', key: 'site.key' }] },
  });
  const sy = await spawnSwitchyard(t, config);
  const address = `127.0.0.1:${httpsPort}`;
  const cns = async (): Promise<string[]> => {
    const out: string[] = [];
    // Each handshake is a new connection, handed to the workers in turn.
    for (let i = 0; i < 6; i++) out.push(await servedCn(address, ca.pem));
    return [...new Set(out)];
  };
  t.same(await cns(), ['old.test']);
  const renewed = makeCert(dir, 'renewed', ca, ['new.test', '127.0.0.1']);
  copyFileSync(renewed.cert, join(dir, 'site.crt'));
  copyFileSync(renewed.key, join(dir, 'site.key'));
  const res = await sy.api('POST', '/api/v1/reload-certs');
  t.equal(res.status, 200, 'reload accepted');
  t.match(res.json, { listeners: 1 });
  t.same(await cns(), ['new.test'], 'every worker serves the renewed certificate');

  const third = makeCert(dir, 'third', ca, ['third.test', '127.0.0.1']);
  copyFileSync(third.cert, join(dir, 'site.crt'));
  copyFileSync(third.key, join(dir, 'site.key'));
  sy.proc.kill('SIGHUP');
  await waitFor(async () => (await cns()).join() === 'third.test', { message: 'SIGHUP reloads every worker' });
  t.pass('SIGHUP reached every worker');

  writeFileSync(join(dir, 'site.crt'), 'garbage\n');
  const bad = await sy.api('POST', '/api/v1/reload-certs');
  t.equal(bad.status, 500);
  t.match(bad.json, { error: 'SY_ERR_CERT_RELOAD' });
  t.same(await cns(), ['third.test'], 'the certificate in force stays');
});

t.test('multi-core: a listener that cannot bind fails the start with exit 1 and a message, leaving no worker behind', async (t) => {
  const blocker = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const port = (blocker.address() as { port: number }).port;
  const dir = await tempDir();
  const config = await writeChildConfig(dir, { blue: ['127.0.0.1:1'] }, { workers: 2, listen: { preview: `127.0.0.1:${port}` }, pools: { blue: { servers: [{ address: '127.0.0.1:1' }] }, green: { servers: [{ address: '127.0.0.1:2' }] } } });
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start', '--config', config.file], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => proc.kill('SIGKILL'));
  let out = '';
  proc.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  proc.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  const [code] = (await once(proc, 'exit')) as [number | null];
  t.equal(code, 1, 'exit code 1');
  t.match(out, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`), 'the message names the address');
  t.notMatch(out, /\n\s+at /, 'no stack trace');
  const pids = [...out.matchAll(/"pid":(\d+)/g)].map((m) => Number(m[1]));
  for (const pid of new Set(pids)) t.throws(() => process.kill(pid, 0), `process ${pid} is gone`);
});
