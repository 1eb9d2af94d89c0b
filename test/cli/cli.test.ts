import t, { type Test } from 'tap';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { runCli, startCli, type CliResult, type RunningCli } from '../helpers/cli.js';
import { freePort, request } from '../helpers/http.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';

/**
 * tmp — a fresh directory under os.tmpdir(), removed in teardown. Not
 * t.testdir(): its path is derived from the test name, so two runs of this
 * file at once (CI jobs, or engineers sharing a checkout) would share it.
 */
function tmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

// Every CLI call is a new process that compiles the TypeScript through tsx
// (about a second of CPU each): give this file more than tap's default.
t.setTimeout(240_000);

// Unique per run: with ports from freePort(), another run of this file on the
// same machine could bind a port we picked; its admin API would refuse our token
// rather than pass for ours.
const TOKEN = `cli-test-${randomUUID()}`;
const NO_STACK = /^\s{4}at /m;

type Raw = Record<string, unknown>;

async function writeConfig(dir: string, config: Raw | string, name = 'switchyard.yaml'): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, typeof config === 'string' ? config : stringify(config));
  return file;
}

function goodConfig(servers: { blue: string[]; green: string[] }, listen: { http: string; admin: string }): Raw {
  return {
    listen,
    admin: { token: TOKEN },
    state: { file: './state.json' },
    live: 'blue',
    pools: {
      blue: { servers: servers.blue.map((address) => ({ address })) },
      green: { servers: servers.green.map((address) => ({ address })) },
    },
    // Generous probes: a first probe that times out on a loaded machine marks a server down.
    health: { intervalMs: 1000, timeoutMs: 1000, rise: 1, fall: 1 },
    log: { level: 'warn' },
  };
}

/** output — a run's output as tap diagnostics (shown when the assertion fails). */
function output(r: CliResult): { stdout: string; stderr: string } {
  return { stdout: r.stdout, stderr: r.stderr };
}

/** describe — a run's output as text, for errors thrown outside an assertion. */
function describe(r: CliResult): string {
  return `exit ${String(r.code)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** startRunning — `start` a CLI and wait until its admin API says ready (failing early if it exits). */
async function startRunning(t: Test, args: string[], adminUrl: string): Promise<RunningCli> {
  const cli = startCli(args);
  t.teardown(async () => {
    if (cli.running()) {
      cli.child.kill('SIGKILL');
      await cli.exited;
    }
  });
  await waitFor(
    async () => {
      if (!cli.running()) throw new Error(`the CLI exited early:\n${describe(await cli.exited)}`);
      const res = await request(`${adminUrl}/readyz`, { timeoutMs: 1000 }).catch(() => undefined);
      return res?.status === 200;
    },
    { timeoutMs: 20_000, intervalMs: 50, message: 'switchyard start to be ready' },
  );
  // Ready means every server had its first probe; wait until each one passed it too.
  await waitFor(
    async () => {
      if (!cli.running()) throw new Error(`the CLI exited early:\n${describe(await cli.exited)}`);
      const res = await request(`${adminUrl}/api/v1/state`, { headers: { authorization: `Bearer ${TOKEN}` } });
      if (res.status !== 200) throw new Error(`GET /api/v1/state → ${res.status}: not our switchyard?`);
      const view = JSON.parse(res.body) as { pools: Record<string, { servers: { usable: boolean }[] }> };
      return Object.values(view.pools).every((p) => p.servers.every((s) => s.usable));
    },
    { timeoutMs: 10_000, message: 'every server healthy' },
  );
  return cli;
}

/** stop — SIGTERM and the exit code, read from the 'exit' event. */
async function stop(cli: RunningCli): Promise<[number | null, NodeJS.Signals | null]> {
  const exit = once(cli.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  cli.child.kill('SIGTERM');
  return exit;
}

t.test('validate accepts a good config and exits 0', async (t) => {
  const dir = tmp(t);
  const file = await writeConfig(dir, goodConfig({ blue: ['127.0.0.1:9001', '127.0.0.1:9002'], green: ['127.0.0.1:9003'] }, { http: '127.0.0.1:8080', admin: '127.0.0.1:9901' }));
  const r = await runCli(['validate', '--config', file]);
  t.equal(r.code, 0, 'exit 0', output(r));
  t.equal(r.stdout, `${file}: ok (2 pools, 3 servers, live: blue)\n`);
  t.equal(r.stderr, '');
});

t.test('validate refuses a bad config with exit 2 and lists every error with its key path, without a stack trace', async (t) => {
  const dir = tmp(t);
  const config = goodConfig({ blue: ['127.0.0.1:9001'], green: ['127.0.0.1:9003', 'nonsense'] }, { http: '127.0.0.1:8080', admin: '127.0.0.1:9901' });
  (config.pools as Raw).blue = { balance: 'fastest', servers: [{ address: '127.0.0.1:9001', wieght: 2 }] };
  config.colour = 'blue';
  const file = await writeConfig(dir, config);
  const r = await runCli(['validate', '--config', file]);
  t.equal(r.code, 2, 'exit 2', output(r));
  t.equal(r.stdout, '');
  t.match(r.stderr, `invalid config ${file}`);
  for (const line of [
    'pools.green.servers[1].address: expected host:port',
    'pools.blue.servers[0].wieght: unknown key',
    'pools.blue.balance: expected one of "round-robin", "least-conn", "p2c", "hash"',
    'colour: unknown key',
  ]) {
    t.match(r.stderr, `\n  ${line}`, line);
  }
  t.notMatch(r.stderr, NO_STACK, 'no stack trace');
});

t.test('validate reports semantic errors together, and a YAML syntax error, with exit 2 and no stack', async (t) => {
  const dir = tmp(t);
  const config = goodConfig({ blue: ['127.0.0.1:9001', '127.0.0.1:9001'], green: ['127.0.0.1:9003'] }, { http: '127.0.0.1:8080', admin: '0.0.0.0:9901' });
  delete config.admin;
  config.live = 'purple';
  const [semantic, yaml, missing] = await Promise.all([
    runCli(['validate', '--config', await writeConfig(dir, config, 'semantic.yaml')]),
    runCli(['validate', '--config', await writeConfig(dir, 'listen:\n  http: [127.0.0.1:8080\nlive: blue\n', 'broken.yaml')]),
    runCli(['validate', '--config', join(dir, 'nope.yaml')]),
  ]);
  t.equal(semantic.code, 2, 'exit 2', output(semantic));
  t.match(semantic.stderr, '\n  live: unknown pool "purple" (pools: blue, green)');
  t.match(semantic.stderr, '\n  admin.token: required when listen.admin (0.0.0.0:9901) is not a loopback address');
  t.match(semantic.stderr, '\n  pools.blue.servers[1].address: duplicate address 127.0.0.1:9001 in pool blue');
  t.notMatch(semantic.stderr, NO_STACK);

  t.equal(yaml.code, 2, 'exit 2', output(yaml));
  t.match(yaml.stderr, /\(file\): YAML: .*line \d+/);
  t.notMatch(yaml.stderr, NO_STACK);

  t.equal(missing.code, 2, 'exit 2', output(missing));
  t.match(missing.stderr, `cannot read ${join(dir, 'nope.yaml')}`);
  t.notMatch(missing.stderr, NO_STACK);
});

t.test('bad usage exits 2 with the usage text: unknown command, unknown flag, missing --config, extra arguments, no command', async (t) => {
  const cases: [string, string[], RegExp][] = [
    ['unknown command', ['deploy'], /unknown command "deploy"/],
    ['unknown flag', ['validate', '--config', 'x.yaml', '--verbose'], /Unknown option '--verbose'/],
    ['validate without --config', ['validate'], /--config FILE is required/],
    ['start without --config', ['start'], /--config FILE is required/],
    ['an extra argument', ['status', 'now'], /status: expected 0 argument\(s\), got 1/],
    ['switch without a pool', ['switch'], /switch: expected 1 argument\(s\), got 0/],
  ];
  const results = await Promise.all(cases.map(([, args]) => runCli(args)));
  for (const [i, [what, , message]] of cases.entries()) {
    const r = results[i] as CliResult;
    t.equal(r.code, 2, `${what}: exit 2`, output(r));
    t.match(r.stderr, message, what);
    t.match(r.stderr, /usage:\n {2}switchyard start/, `${what}: usage shown`);
    t.notMatch(r.stderr, NO_STACK, `${what}: no stack`);
  }
  const none = await runCli([]);
  t.equal(none.code, 2, 'exit 2', output(none));
  t.match(none.stdout + none.stderr, /usage:/);
  const help = await runCli(['--help']);
  t.equal(help.code, 0, '--help is not an error');
  t.match(help.stdout, /usage:/);
});

t.test('start with a bad config exits 2 without listening and without a stack', async (t) => {
  const dir = tmp(t);
  const port = await freePort();
  const config = goodConfig({ blue: ['127.0.0.1:9001'], green: ['bad address'] }, { http: `127.0.0.1:${port}`, admin: '127.0.0.1:9901' });
  const r = await runCli(['start', '--config', await writeConfig(dir, config)]);
  t.equal(r.code, 2, 'exit 2', output(r));
  t.match(r.stderr, '\n  pools.green.servers[0].address: expected host:port');
  t.notMatch(r.stderr, NO_STACK);
});

t.test('start exits 1 naming the address when a listen port is taken', async (t) => {
  const dir = tmp(t);
  const busy = createServer();
  busy.listen(0, '127.0.0.1');
  await once(busy, 'listening');
  t.teardown(() => new Promise<void>((resolve) => busy.close(() => resolve())));
  const port = (busy.address() as { port: number }).port;
  const config = goodConfig({ blue: ['127.0.0.1:9001'], green: ['127.0.0.1:9003'] }, { http: `127.0.0.1:${port}`, admin: `127.0.0.1:${await freePort()}` });
  config.health = { enabled: false };
  const r = await runCli(['start', '--config', await writeConfig(dir, config)]);
  t.equal(r.code, 1, 'exit 1', output(r));
  t.match(r.stderr, `cannot listen on 127.0.0.1:${port}`);
  t.notMatch(r.stderr, NO_STACK);
});

t.test('start serves traffic; status, switch and rollback work as thin clients by flags and by env; SIGTERM exits 0', async (t) => {
  const ups = (await Promise.all(['blue-1', 'green-1'].map((n) => startUpstream(n)))) as [TestUpstream, TestUpstream];
  t.teardown(() => Promise.all(ups.map((u) => u.close())));
  const [blue1, green1] = ups;
  const dir = tmp(t);
  const [httpPort, adminPort] = [await freePort(), await freePort()];
  const proxyUrl = `http://127.0.0.1:${httpPort}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const file = await writeConfig(dir, goodConfig({ blue: [blue1.address], green: [green1.address] }, { http: `127.0.0.1:${httpPort}`, admin: `127.0.0.1:${adminPort}` }));
  const cli = await startRunning(t, ['start', '--config', file], adminUrl);
  t.equal((await request(`${proxyUrl}/`)).body, 'blue-1', 'the proxy serves blue');

  const flags = ['--admin-url', adminUrl, '--token', TOKEN];
  const env = { SWITCHYARD_ADMIN_URL: adminUrl, SWITCHYARD_ADMIN_TOKEN: TOKEN };

  const status = await runCli(['status', ...flags]);
  t.equal(status.code, 0, 'exit 0', output(status));
  t.match(JSON.parse(status.stdout), { generation: 1, live: 'blue', weights: { blue: 100, green: 0 } }, 'status prints the state as JSON');

  const sw = await runCli(['switch', 'green'], env);
  t.equal(sw.code, 0, 'exit 0', output(sw));
  t.match(JSON.parse(sw.stdout), { from: 'blue', to: 'green', generation: 2, changed: true });
  t.equal((await request(`${proxyUrl}/`)).body, 'green-1', 'traffic follows the switch');

  // Read-only calls (and refused ones) run side by side: each is a process start.
  const [byEnv, byConfig, wrong, flagWins, unknown, unreachable] = await Promise.all([
    runCli(['status'], env),
    runCli(['status', '--config', file]),
    runCli(['switch', 'blue', '--admin-url', adminUrl, '--token', 'wrong']),
    runCli(['status', '--token', 'wrong'], env),
    runCli(['switch', 'purple', ...flags]),
    freePort().then((port) => runCli(['status', '--admin-url', `http://127.0.0.1:${port}`, '--token', TOKEN])),
  ]);
  t.equal(byEnv.code, 0, 'exit 0', output(byEnv));
  t.match(JSON.parse(byEnv.stdout), { live: 'green' }, 'status by env');
  t.equal(byConfig.code, 0, 'exit 0', output(byConfig));
  t.match(JSON.parse(byConfig.stdout), { live: 'green' }, 'status with address and token from --config');

  t.equal(wrong.code, 1, 'a wrong token exits 1', output(wrong));
  t.equal(wrong.stdout, '');
  t.match(wrong.stderr, 'POST /api/v1/switch → 401');
  t.same(JSON.parse(wrong.stderr.slice(wrong.stderr.indexOf('{'))), { error: 'SY_ERR_UNAUTHORIZED', message: 'missing or wrong bearer token' }, 'the JSON error is printed');
  t.notMatch(wrong.stderr, NO_STACK);
  t.equal(flagWins.code, 1, '--token wins over SWITCHYARD_ADMIN_TOKEN', output(flagWins));
  t.equal(unknown.code, 1, 'an unknown pool exits 1', output(unknown));
  t.match(unknown.stderr, '"error": "SY_ERR_UNKNOWN_POOL"');
  t.equal(unreachable.code, 1, 'an unreachable admin API exits 1', output(unreachable));
  t.match(unreachable.stderr, /cannot reach the admin API/);
  t.notMatch(unreachable.stderr, NO_STACK);
  t.equal((await request(`${proxyUrl}/`)).body, 'green-1', 'the refused calls changed nothing');

  const rb = await runCli(['rollback', '--wait', ...flags]);
  t.equal(rb.code, 0, 'exit 0', output(rb));
  t.match(JSON.parse(rb.stdout), { from: 'green', to: 'blue', generation: 3, drained: true });
  t.equal((await request(`${proxyUrl}/`)).body, 'blue-1', 'traffic is back on blue');

  const history = JSON.parse((await request(`${adminUrl}/api/v1/history`, { headers: { authorization: `Bearer ${TOKEN}` } })).body) as { history: { who: string; generation: number }[] };
  t.match(history.history, [{ generation: 2 }, { generation: 3 }]);
  for (const h of history.history) t.match(h.who, /^cli:/, 'the CLI names itself as the actor');
  const saved = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as { live: string; generation: number };
  t.match(saved, { live: 'blue', generation: 3 }, 'state persisted next to the config');

  const [code, signal] = await stop(cli);
  t.equal(code, 0, 'SIGTERM exits 0', { signal, stdout: cli.stdout(), stderr: cli.stderr() });
  await t.rejects(request(`${proxyUrl}/`, { timeoutMs: 2000 }), { code: 'ECONNREFUSED' }, 'the proxy port is closed');
});

t.test('start --demo-upstreams serves "hello from blue-1" through the proxy, like npm start', async (t) => {
  const dir = tmp(t);
  const ports = await Promise.all(Array.from({ length: 6 }, () => freePort()));
  const [httpPort, adminPort, b1, b2, g1, g2] = ports as [number, number, number, number, number, number];
  t.equal(new Set(ports).size, 6, 'six distinct free ports');
  const file = await writeConfig(
    dir,
    goodConfig(
      { blue: [`127.0.0.1:${b1}`, `127.0.0.1:${b2}`], green: [`127.0.0.1:${g1}`, `127.0.0.1:${g2}`] },
      { http: `127.0.0.1:${httpPort}`, admin: `127.0.0.1:${adminPort}` },
    ),
  );
  const cli = await startRunning(t, ['start', '--config', file, '--demo-upstreams'], `http://127.0.0.1:${adminPort}`);
  const res = await request(`http://127.0.0.1:${httpPort}/`);
  t.equal(res.status, 200);
  t.equal(res.body, `hello from blue-1 (127.0.0.1:${b1})\n`);
  t.equal(res.headers['x-demo-saw-pool'], 'blue', 'the demo app saw the pool header');
  const second = await request(`http://127.0.0.1:${httpPort}/`);
  t.equal(second.body, `hello from blue-2 (127.0.0.1:${b2})\n`, 'round-robin reaches blue-2');

  const [code, signal] = await stop(cli);
  t.equal(code, 0, 'SIGTERM exits 0', { signal, stdout: cli.stdout(), stderr: cli.stderr() });
  await t.rejects(request(`http://127.0.0.1:${b1}/`, { timeoutMs: 2000 }), { code: 'ECONNREFUSED' }, 'the demo upstreams are closed too');
});
