/**
 * bench/l4 — `npm run bench:l4`: raw TCP throughput and WebSocket message
 * throughput, direct to the upstream vs through Switchyard vs through HAProxy
 * in `mode tcp` (issue 4's L4 yardstick: Switchyard ≥ 0.75× HAProxy), in the
 * same run.
 *
 * Processes: the upstreams (bench/lib/l4-upstreams.ts: TCP sink, TCP echo,
 * ws echo behind node:http) in one unpinned process; Switchyard from
 * dist/cli.js on a generated config with two `listen.tcp` listeners (sink,
 * echo) and an HTTP pool pointing at the ws server (WebSocket goes through
 * the HTTP listener's upgrade path), pinned to CPU 1; HAProxy (when installed;
 * BENCH_HAPROXY names another binary or `none` to skip it) with one thread,
 * `mode tcp`, one frontend per upstream (sink, echo, ws — a WebSocket through
 * it is a plain byte pipe, no HTTP parsing), config in the temp dir, pinned to
 * CPU 1 as well (only one proxy carries traffic at a time); this process is
 * the client and pins itself to CPU 0 (taskset, when available).
 *
 * Tests, each run on every target per round, rounds interleaved with the
 * target order rotating: TCP sink (N connections × M MiB, timed until the
 * sink has counted every byte), TCP echo (N × M/4 MiB there and back), and
 * WebSocket echo with 32 B and 64 KiB messages for a fixed window. Medians
 * over rounds, ratios as medians of per-round ratios (Switchyard/direct,
 * Switchyard/HAProxy), Switchyard's and HAProxy's CPU from /proc/PID/stat per
 * GiB (TCP) or per message (WS), and the CPU other processes on the machine
 * used during each sample.
 *
 * Output: Markdown on stdout, progress on stderr. Children are stopped on
 * exit, error and SIGINT/SIGTERM; the temp dir is removed (kept, with the
 * logs, when the run fails).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAllNow, spawnChild, stopAll, type Child } from './lib/children.js';
import { haproxyTcpConfig } from './lib/haproxy.js';
import { tcpTransfer, wsEcho } from './lib/l4-client.js';
import { describeMachine } from './lib/machine.js';
import { findBinary, startNative, waitPort } from './lib/native.js';
import { readCpuSeconds, readMachineBusySeconds, treeCpuSeconds } from './lib/procstat.js';
import { say } from './lib/say.js';
import { median } from './lib/stats.js';
import { ADMIN_TOKEN, ensureBuilt, freePort } from './lib/switchyard.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 2 ** 20;

interface Options {
  rounds: number;
  conns: number;
  mib: number;
  echoMib: number;
  wsSeconds: number;
  waitForBench: boolean;
  idleWaitS: number;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { rounds: 3, conns: 4, mib: 256, echoMib: 64, wsSeconds: 3, waitForBench: true, idleWaitS: 180 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${a} needs a positive number`);
      return v;
    };
    if (a === '--rounds') o.rounds = Math.min(9, Math.round(num()));
    else if (a === '--conns') o.conns = Math.min(64, Math.round(num()));
    else if (a === '--mib') o.mib = Math.min(4096, num());
    else if (a === '--echo-mib') o.echoMib = Math.min(4096, num());
    else if (a === '--ws-seconds') o.wsSeconds = Math.min(30, num());
    else if (a === '--no-wait') Object.assign(o, { waitForBench: false, idleWaitS: 0 });
    else if (a === '--idle-wait') o.idleWaitS = Math.min(600, num());
    else if (a === '--quick') Object.assign(o, { rounds: 1, mib: 64, echoMib: 16, wsSeconds: 1 });
    else if (a === '--help') {
      process.stdout.write('npm run bench:l4 [-- --rounds 3 --conns 4 --mib 256 --echo-mib 64 --ws-seconds 3 --idle-wait 180 --quick --no-wait]\n(BENCH_HAPROXY: another haproxy binary, or "none" to skip the HAProxy target)\n');
      process.exit(0);
    } else throw new Error(`unknown option ${a} (see --help)`);
  }
  return o;
}

/** otherBenchRunning — pids of `bench/run.ts` processes (pgrep; empty when pgrep is missing). */
function otherBenchRunning(): string[] {
  try {
    return execFileSync('pgrep', ['-f', 'bench/run.ts'], { encoding: 'utf8' }).split('\n').filter((l) => l.trim() !== '');
  } catch {
    return [];
  }
}

async function waitForQuiet(): Promise<string> {
  const start = Date.now();
  // Bounded: polls every 5 s for at most 10 minutes.
  for (let i = 0; i < 120; i++) {
    const pids = otherBenchRunning();
    if (pids.length === 0) return i === 0 ? 'no bench/run.ts running at start' : `waited ${Math.round((Date.now() - start) / 1000)} s for bench/run.ts to finish`;
    if (i === 0) say(`bench/run.ts is running (pids ${pids.join(' ')}); waiting up to 10 min`);
    await new Promise((r) => setTimeout(r, 5_000));
  }
  return 'bench/run.ts still running after 10 min of waiting — figures may be distorted';
}

/** busyPct — CPU % of the whole machine (user+nice+system+steal) over `ms`, while this bench has started nothing. */
async function busyPct(ms: number): Promise<number | undefined> {
  const b0 = readMachineBusySeconds();
  await new Promise((r) => setTimeout(r, ms));
  const b1 = readMachineBusySeconds();
  return b0 === undefined || b1 === undefined ? undefined : ((b1 - b0) / ((ms / 1000) * availableParallelism())) * 100;
}

/** waitForIdleMachine — poll 2 s samples until other load is under 25 % of the machine, for at most `maxS` seconds. */
async function waitForIdleMachine(maxS: number): Promise<string> {
  if (maxS <= 0) return 'machine load not waited for (--no-wait)';
  const start = Date.now();
  let last: number | undefined;
  // Bounded: at most maxS seconds (≤ 600) of 2 s samples.
  for (let i = 0; i < 300 && Date.now() - start < maxS * 1000; i++) {
    last = await busyPct(2_000);
    if (last === undefined) return 'machine load unknown (/proc/stat unreadable)';
    if (last < 25) return `machine ${last.toFixed(0)} % busy before start (waited ${Math.round((Date.now() - start) / 1000)} s)`;
    if (i === 0) say(`machine ${last.toFixed(0)} % busy (other work); waiting up to ${maxS} s for it to drop under 25 %`);
  }
  return `machine still ${last?.toFixed(0) ?? '?'} % busy after waiting ${maxS} s; ran anyway`;
}

function hasTaskset(): boolean {
  return spawnSync('taskset', ['-c', '0', 'true']).status === 0;
}

function configYaml(p: { http: number; admin: number; sinkL: number; echoL: number; sink: number; echo: number; ws: number; state: string }): string {
  const tcpPool = (port: number): string => `      pools:
        blue:
          health: { intervalMs: 5000, timeoutMs: 1000 }
          servers: [{ address: 127.0.0.1:${port} }]`;
  return `# generated by bench/l4.ts
listen:
  http: 127.0.0.1:${p.http}
  admin: 127.0.0.1:${p.admin}
  tcp:
    - name: sink
      address: 127.0.0.1:${p.sinkL}
${tcpPool(p.sink)}
    - name: echo
      address: 127.0.0.1:${p.echoL}
${tcpPool(p.echo)}
admin:
  token: ${ADMIN_TOKEN}
state:
  file: ${p.state}
live: blue
pools:
  blue:
    servers:
      - { address: 127.0.0.1:${p.ws} }
  green:
    servers:
      - { address: 127.0.0.1:${p.ws} }
health:
  intervalMs: 1000
log:
  level: warn
  access: "off"
`;
}

type TestId = 'tcp-sink' | 'tcp-echo' | 'ws-32' | 'ws-64k';
type Target = 'direct' | 'switchyard' | 'haproxy';

/** The L4 target of issue 4: Switchyard's TCP throughput at least this fraction of HAProxy `mode tcp`'s. */
const HAPROXY_GOAL = 0.75;

interface Sample {
  readonly test: TestId;
  readonly target: Target;
  readonly round: number;
  /** MiB/s (TCP and WS). */
  readonly mibPerS: number;
  /** messages/s (WS only). */
  readonly msgPerS: number | undefined;
  readonly bytes: number;
  readonly messages: number | undefined;
  /** WS: echoes over the whole sample (warm-up included), the span the proxy's CPU is read over. */
  readonly allMessages: number | undefined;
  readonly seconds: number;
  /** CPU seconds of the proxy carrying the sample (Switchyard or HAProxy; undefined for direct). */
  readonly proxyCpu: number | undefined;
  /** CPU % of the whole machine used by processes other than the bench's own. */
  readonly otherPct: number | undefined;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const quiet = opts.waitForBench ? await waitForQuiet() : 'not checked (--no-wait)';
  let built: string;
  try {
    built = ensureBuilt(root, 'auto');
  } catch (err) {
    // Others edit src/ while benches run: a half-edited tree must not stop the bench when a dist/ exists.
    if (!existsSync(join(root, 'dist', 'cli.js'))) throw err;
    built = 'build failed on the current src/ (mid-edit?), existing dist/ used';
  }
  say(`dist: ${built}`);
  const idle = await waitForIdleMachine(opts.idleWaitS);
  say(idle);
  const haproxyBin = findBinary('haproxy', process.env.BENCH_HAPROXY);
  const hpEnv = process.env.BENCH_HAPROXY ?? '';
  const haproxySkipped = haproxyBin !== undefined ? undefined : hpEnv === 'none' ? 'BENCH_HAPROXY=none' : hpEnv !== '' ? `BENCH_HAPROXY=${hpEnv} not found` : 'not installed';
  if (haproxySkipped !== undefined) say(`HAProxy skipped: ${haproxySkipped}`);
  // Before pinning: availableParallelism() follows this process's affinity.
  const machine = describeMachine(root, undefined, { nginx: undefined, haproxy: haproxyBin });
  const cpus = availableParallelism();
  const pin = hasTaskset();
  if (pin) spawnSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  const startedAt = new Date();
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-l4-'));
  let ok = false;
  try {
    const up = spawnChild({
      name: 'l4-upstreams',
      command: process.execPath,
      args: ['--import', 'tsx', join(root, 'bench', 'lib', 'l4-upstreams.ts')],
      cpus: undefined,
      logFile: join(dir, 'l4-upstreams.log'),
    });
    const ready = (await up.ready) as unknown as { port: number; echoPort: number; wsPort: number };
    const ports = { http: await freePort(), admin: await freePort(), sinkL: await freePort(), echoL: await freePort() };
    const configFile = join(dir, 'switchyard.yaml');
    await writeFile(configFile, configYaml({ ...ports, sink: ready.port, echo: ready.echoPort, ws: ready.wsPort, state: join(dir, 'state.json') }));
    const sy = spawnChild({
      name: 'switchyard',
      command: process.execPath,
      args: [join(root, 'dist', 'cli.js'), 'start', '--config', configFile],
      cpus: pin ? '1' : undefined,
      logFile: join(dir, 'switchyard.log'),
      waitReady: false,
      env: { ...process.env, SWITCHYARD_ADMIN_TOKEN: ADMIN_TOKEN },
    });
    await waitReadyz(sy, `http://127.0.0.1:${ports.admin}`, dir);
    say('upstreams and Switchyard ready');
    const hp = haproxyBin === undefined ? undefined : await startHaproxy(haproxyBin, dir, pin, ready);
    if (hp !== undefined) say('HAProxy (mode tcp) ready');

    const addr: Record<Target, { sink: number; echo: number; ws: string }> = {
      direct: { sink: ready.port, echo: ready.echoPort, ws: `ws://127.0.0.1:${ready.wsPort}/` },
      switchyard: { sink: ports.sinkL, echo: ports.echoL, ws: `ws://127.0.0.1:${ports.http}/` },
      haproxy: hp === undefined ? { sink: 0, echo: 0, ws: '' } : { sink: hp.ports.sink, echo: hp.ports.echo, ws: `ws://127.0.0.1:${hp.ports.ws}/` },
    };
    const targets: Target[] = hp === undefined ? ['direct', 'switchyard'] : ['direct', 'switchyard', 'haproxy'];
    const sinkBytes = Math.round(opts.mib * MiB);
    const echoBytes = Math.round(opts.echoMib * MiB);
    const wsMs = Math.round(opts.wsSeconds * 1000);

    const runOne = async (test: TestId, target: Target, round: number, warm: boolean): Promise<Sample> => {
      const a = addr[target];
      const busy0 = readMachineBusySeconds();
      const own0 = process.cpuUsage();
      const up0 = treeCpuSeconds(up.pid);
      const sy0 = readCpuSeconds(sy.pid);
      const hp0 = hp === undefined ? 0 : treeCpuSeconds(hp.child.pid);
      const w0 = process.hrtime.bigint();
      let mibPerS: number;
      let msgPerS: number | undefined;
      let bytes: number;
      let messages: number | undefined;
      let allMessages: number | undefined;
      let seconds: number;
      if (test === 'tcp-sink' || test === 'tcp-echo') {
        const per = warm ? Math.min(32 * MiB, test === 'tcp-sink' ? sinkBytes : echoBytes) : test === 'tcp-sink' ? sinkBytes : echoBytes;
        const r = await tcpTransfer(test === 'tcp-sink' ? 'sink' : 'echo', test === 'tcp-sink' ? a.sink : a.echo, opts.conns, per, 60_000);
        ({ mibPerS, bytes, seconds } = r);
      } else {
        const r = await wsEcho(a.ws, test === 'ws-32' ? 32 : 64 * 1024, warm ? 200 : 300, warm ? 300 : wsMs);
        ({ mibPerS, msgPerS, messages, allMessages, seconds } = r);
        bytes = r.messages * (test === 'ws-32' ? 32 : 64 * 1024);
      }
      const wall = Number(process.hrtime.bigint() - w0) / 1e9;
      const sy1 = readCpuSeconds(sy.pid);
      const hp1 = hp === undefined ? 0 : treeCpuSeconds(hp.child.pid);
      const up1 = treeCpuSeconds(up.pid);
      const own = process.cpuUsage(own0);
      const busy1 = readMachineBusySeconds();
      const syCpu = sy0 !== undefined && sy1 !== undefined ? sy1 - sy0 : undefined;
      const hpCpu = hp0 !== undefined && hp1 !== undefined ? hp1 - hp0 : undefined;
      const proxyCpu = target === 'switchyard' ? syCpu : target === 'haproxy' ? hpCpu : undefined;
      let otherPct: number | undefined;
      if (busy0 !== undefined && busy1 !== undefined && syCpu !== undefined && hpCpu !== undefined && up0 !== undefined && up1 !== undefined) {
        const ours = (own.user + own.system) / 1e6 + syCpu + hpCpu + (up1 - up0);
        otherPct = (Math.max(0, busy1 - busy0 - ours) / (wall * cpus)) * 100;
      }
      return { test, target, round, mibPerS, msgPerS, bytes, messages, allMessages, seconds, proxyCpu, otherPct };
    };

    const tests: TestId[] = ['tcp-sink', 'tcp-echo', 'ws-32', 'ws-64k'];
    say(`warm-up (short run of every test on ${targets.join(', ')})`);
    for (const test of tests) for (const target of targets) await runOne(test, target, 0, true);

    const samples: Sample[] = [];
    for (let round = 1; round <= opts.rounds; round++) {
      // Rotate: round 1 d,s,h; round 2 s,h,d; round 3 h,d,s (two targets: alternate, as before).
      const order = targets.map((_, i) => targets[(i + round - 1) % targets.length] as Target);
      for (const test of tests) {
        for (const target of order) {
          const s = await runOne(test, target, round, false);
          samples.push(s);
          say(`round ${round} ${test} ${target}: ${s.mibPerS.toFixed(1)} MiB/s${s.msgPerS !== undefined ? `, ${Math.round(s.msgPerS)} msg/s` : ''}${s.proxyCpu !== undefined ? `, ${s.target === 'haproxy' ? 'HAProxy' : 'Switchyard'} CPU ${s.proxyCpu.toFixed(2)} s` : ''}, other load ${s.otherPct?.toFixed(0) ?? 'n/a'} %`);
        }
      }
    }
    const errors = syLogErrors(sy.lines);
    const elapsed = (Date.now() - t0) / 1000;
    process.stdout.write(report({ opts, samples, machine, pin, quiet: `${quiet}; ${idle}`, built, startedAt, elapsed, errors, loadAtStart: loadavg()[0] ?? 0, haproxySkipped }));
    ok = true;
  } finally {
    await stopAll();
    if (ok) rmSync(dir, { recursive: true, force: true });
    else say(`run failed; logs and config kept in ${dir}`);
  }
}

/**
 * startHaproxy — HAProxy `mode tcp` in front of the three upstreams (sink, echo,
 * ws), config and log in the run's temp dir, pinned to CPU 1 like Switchyard;
 * resolves once every frontend accepts connections.
 */
async function startHaproxy(binary: string, dir: string, pin: boolean, up: { port: number; echoPort: number; wsPort: number }): Promise<{ child: Child; ports: { sink: number; echo: number; ws: number } }> {
  const ports = { sink: await freePort(), echo: await freePort(), ws: await freePort() };
  const config = haproxyTcpConfig([
    { name: 'sink', port: ports.sink, upstreamPort: up.port },
    { name: 'echo', port: ports.echo, upstreamPort: up.echoPort },
    { name: 'ws', port: ports.ws, upstreamPort: up.wsPort },
  ]);
  const child = await startNative({ name: 'haproxy', kind: 'haproxy', binary, dir: join(dir, 'haproxy'), config, port: ports.sink, cpus: pin ? '1' : undefined, logDir: dir });
  await waitPort(child, ports.echo, 10_000, join(dir, 'haproxy.log'));
  await waitPort(child, ports.ws, 10_000, join(dir, 'haproxy.log'));
  return { child, ports };
}

async function waitReadyz(sy: Child, adminUrl: string, dir: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  // Bounded: 100 ms polls for at most 30 s.
  for (;;) {
    if (sy.proc.exitCode !== null) throw new Error(`switchyard exited with ${sy.proc.exitCode} during start; see ${dir}/switchyard.log`);
    try {
      const res = await fetch(`${adminUrl}/readyz`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`switchyard not ready after 30 s; see ${dir}/switchyard.log`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function syLogErrors(lines: readonly string[]): number {
  let n = 0;
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      if (((JSON.parse(line) as { level?: number }).level ?? 0) >= 40) n++;
    } catch {
      // not a log record
    }
  }
  return n;
}

function fmt(v: number | undefined, digits = 0): string {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function report(r: {
  opts: Options;
  samples: readonly Sample[];
  machine: ReturnType<typeof describeMachine>;
  pin: boolean;
  quiet: string;
  built: string;
  startedAt: Date;
  elapsed: number;
  errors: number;
  loadAtStart: number;
  /** Why HAProxy was not measured, or undefined when it was. */
  haproxySkipped: string | undefined;
}): string {
  const { opts, samples, machine } = r;
  const hpOn = r.haproxySkipped === undefined;
  const skipped = 'skipped';
  const pick = (test: TestId, target: Target): Sample[] => samples.filter((s) => s.test === test && s.target === target);
  /** ratio — median over rounds of f(num)/f(den) for `test`, both measured in the same round. */
  const ratio = (test: TestId, num: Target, den: Target, f: (s: Sample) => number): number =>
    median(
      [...new Set(samples.map((s) => s.round))].flatMap((round) => {
        const d = samples.find((s) => s.test === test && s.target === den && s.round === round);
        const t = samples.find((s) => s.test === test && s.target === num && s.round === round);
        return d !== undefined && t !== undefined ? [f(t) / f(d)] : [];
      }),
    );
  const range = (xs: number[], d = 0): string => `${fmt(Math.min(...xs), d)}–${fmt(Math.max(...xs), d)}`;
  const withRange = (xs: number[]): string => `${fmt(median(xs))} (${range(xs)})`;
  // Echo moves every byte through the proxy twice (both directions): CPU per GiB of payload sent.
  const cpuPerGiB = (xs: readonly Sample[]): number => median(xs.map((s) => (s.proxyCpu ?? NaN) / (s.bytes / 2 ** 30)));
  const cpuPerMsg = (xs: readonly Sample[]): number => median(xs.map((s) => ((s.proxyCpu ?? NaN) / (s.allMessages ?? NaN)) * 1e6));
  const other = samples.map((s) => s.otherPct).filter((v): v is number => v !== undefined);
  const lines: string[] = [];
  lines.push(
    `Command: \`npm run bench:l4\`${process.argv.length > 2 ? ` (args: ${process.argv.slice(2).join(' ')})` : ''}, started ${r.startedAt.toISOString().replace(/\.\d+Z$/, 'Z')}, ${r.elapsed.toFixed(0)} s (after the wait). ${opts.rounds} interleaved rounds (target order rotating over ${hpOn ? 'direct, Switchyard, HAProxy' : 'direct, Switchyard'}), medians; each ratio = median of per-round ratios (Switchyard/direct${hpOn ? ', Switchyard/HAProxy' : ''}).`,
  );
  lines.push('');
  lines.push(`Machine: ${machine.cpus} CPUs (\`nproc\`), ${machine.cpuModel}, Linux ${machine.kernel}, Node ${machine.node}, ws ${wsVersion()}, Switchyard ${machine.switchyard} (dist ${r.built}; ${machine.git}). Pinning: ${r.pin ? `taskset — client (this process) on CPU 0, ${hpOn ? 'Switchyard and HAProxy on CPU 1 (one carries traffic at a time)' : 'Switchyard on CPU 1'}, upstreams unpinned` : 'none (taskset not available)'}. Loopback only.`);
  lines.push('');
  lines.push(
    hpOn
      ? `HAProxy: ${machine.haproxy ?? 'version unknown'}, \`mode tcp\`, \`nbthread 1\`, one frontend per upstream (sink, echo, ws), no logging, no health checks, no splicing — a TCP byte pipe, not an HTTP-aware proxy: the WebSocket rows through it forward the upgrade and frames as opaque bytes, while Switchyard parses the upgrade on its HTTP listener. Issue 4's L4 target: Switchyard ≥ ${HAPROXY_GOAL}× HAProxy on the TCP tests.`
      : `HAProxy: ${skipped} (${r.haproxySkipped ?? ''}); its columns are marked "${skipped}".`,
  );
  lines.push('');
  lines.push(`Other benchmarks: ${r.quiet}. Other load (CPU of processes outside this bench, % of all CPUs, per sample): median ${fmt(median(other), 1)} %, max ${fmt(Math.max(...other), 1)} %; load average ${r.loadAtStart.toFixed(2)} at the end. Switchyard warnings/errors logged: ${r.errors}.`);
  lines.push('');
  lines.push(`### TCP (listen.tcp), ${opts.conns} parallel connections`);
  lines.push('');
  lines.push('| test | direct MiB/s (median, range) | through Switchyard MiB/s (median, range) | through/direct | HAProxy tcp MiB/s (median, range) | Switchyard/HAProxy | Switchyard CPU s per GiB sent | HAProxy CPU s per GiB sent |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const goal: string[] = [];
  for (const [test, label] of [
    ['tcp-sink', `sink: ${fmt(opts.mib)} MiB per connection, one way`],
    ['tcp-echo', `echo: ${fmt(opts.echoMib)} MiB per connection there and back (counted once)`],
  ] as const) {
    const d = pick(test, 'direct').map((s) => s.mibPerS);
    const t = pick(test, 'switchyard');
    const h = pick(test, 'haproxy');
    const vsHp = ratio(test, 'switchyard', 'haproxy', (s) => s.mibPerS);
    if (hpOn) goal.push(`${test} ${fmt(vsHp, 2)} (${vsHp >= HAPROXY_GOAL ? 'met' : 'not met'})`);
    lines.push(
      `| ${label} | ${withRange(d)} | ${withRange(t.map((s) => s.mibPerS))} | **${fmt(ratio(test, 'switchyard', 'direct', (s) => s.mibPerS), 2)}** | ${hpOn ? withRange(h.map((s) => s.mibPerS)) : skipped} | ${hpOn ? `**${fmt(vsHp, 2)}**` : skipped} | ${fmt(cpuPerGiB(t), 2)} | ${hpOn ? fmt(cpuPerGiB(h), 2) : skipped} |`,
    );
  }
  lines.push('');
  lines.push(hpOn ? `Issue 4 L4 target (Switchyard/HAProxy ≥ ${HAPROXY_GOAL}): ${goal.join('; ')}.` : `Issue 4 L4 target (Switchyard/HAProxy ≥ ${HAPROXY_GOAL}): not checked, HAProxy ${skipped}.`);
  lines.push('');
  lines.push(`### WebSocket echo (Switchyard: HTTP listener, upgrade path; HAProxy: mode tcp byte pipe), one client, ${fmt(opts.wsSeconds, 1)} s window per sample`);
  lines.push('');
  lines.push('| message size | direct msg/s | direct MiB/s | through msg/s | through MiB/s | through/direct | HAProxy msg/s | HAProxy MiB/s | Switchyard/HAProxy | Switchyard CPU µs per echoed msg | HAProxy CPU µs per echoed msg |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [test, label] of [
    ['ws-32', '32 B'],
    ['ws-64k', '64 KiB'],
  ] as const) {
    const d = pick(test, 'direct');
    const t = pick(test, 'switchyard');
    const h = pick(test, 'haproxy');
    const hpCells = hpOn
      ? [fmt(median(h.map((s) => s.msgPerS ?? NaN))), fmt(median(h.map((s) => s.mibPerS)), 1), `**${fmt(ratio(test, 'switchyard', 'haproxy', (s) => s.mibPerS), 2)}**`]
      : [skipped, skipped, skipped];
    lines.push(
      `| ${label} | ${fmt(median(d.map((s) => s.msgPerS ?? NaN)))} | ${fmt(median(d.map((s) => s.mibPerS)), 1)} | ${fmt(median(t.map((s) => s.msgPerS ?? NaN)))} | ${fmt(median(t.map((s) => s.mibPerS)), 1)} | **${fmt(ratio(test, 'switchyard', 'direct', (s) => s.mibPerS), 2)}** | ${hpCells.join(' | ')} | ${fmt(cpuPerMsg(t), 1)} | ${hpOn ? fmt(cpuPerMsg(h), 1) : skipped} |`,
    );
  }
  lines.push('');
  lines.push('Raw samples (round, test, target, MiB/s, msg/s, proxy CPU s — Switchyard or HAProxy, other load %):');
  lines.push('');
  lines.push('```');
  for (const s of samples) lines.push(`${s.round} ${s.test.padEnd(8)} ${s.target.padEnd(10)} ${s.mibPerS.toFixed(1).padStart(8)} ${s.msgPerS === undefined ? '-' : Math.round(s.msgPerS)} ${s.proxyCpu?.toFixed(2) ?? '-'} ${s.otherPct?.toFixed(1) ?? 'n/a'}`);
  lines.push('```');
  lines.push('');
  return `${lines.join('\n')}\n`;
}

function wsVersion(): string {
  try {
    return (JSON.parse(execFileSync('node', ['-p', 'JSON.stringify(require("ws/package.json"))'], { cwd: root, encoding: 'utf8' })) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

process.once('SIGINT', () => {
  void stopAll().then(() => process.exit(130));
});
process.once('SIGTERM', () => {
  void stopAll().then(() => process.exit(143));
});
process.once('exit', () => killAllNow());

try {
  await main();
} catch (err) {
  say(`failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
