/**
 * bench/lib/targets — start everything the load generator will talk to, each
 * in its own process: two upstreams (blue and green), the in-tree forwarder,
 * Switchyard, and the optional peers — nginx and HAProxy (native, from
 * Debian's packages) and http-proxy and @fastify/http-proxy (npm dev
 * dependencies). Proxies are pinned to the proxy CPU; upstreams are left to
 * the scheduler (on 2 cores nothing is left to give them alone), which the
 * report states. A peer that is not installed is skipped and named.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { spawnChild, type Child } from './children.js';
import { compileStandalone } from './compile.js';
import { haproxyConfig } from './haproxy.js';
import { startNative } from './native.js';
import { nginxConfig } from './nginx.js';
import { SCENARIOS, type Scenario, type TargetId } from './options.js';
import { freePort, startSwitchyard, type RunningSwitchyard } from './switchyard.js';
import { startUpstreams, type Upstream } from './upstreams.js';

/** Target — one thing to load, and the process (tree) whose CPU and memory answer for it. */
export interface Target {
  readonly id: TargetId;
  readonly origin: string;
  /** Root of the process tree (nginx: the master; its worker is summed in). */
  readonly pid: number;
}

/** Started — every process of the run. */
export interface Started {
  readonly targets: readonly Target[];
  readonly blue: Upstream;
  readonly green: Upstream;
  readonly switchyard: RunningSwitchyard;
  /** Every long-lived process tree of the run (upstreams and proxies), for CPU accounting. */
  readonly pids: readonly number[];
  /** Peers asked for but not available, each with the reason. */
  readonly missingPeers: readonly string[];
}

/** Binaries — the native programs found on this machine (undefined: not installed). */
export interface Binaries {
  readonly nginx: string | undefined;
  readonly haproxy: string | undefined;
}

/** StartSpec — where things live and which CPU the proxies get. */
export interface StartSpec {
  readonly root: string;
  /** Temp dir for every generated config, state file, pid file and native temp path. */
  readonly tempDir: string;
  readonly logDir: string;
  readonly proxyCpus: string | undefined;
  /** Peers to start (those available; the others are reported missing). */
  readonly peers: readonly TargetId[];
  readonly upstream: 'node' | 'nginx';
  readonly bin: Binaries;
}

const NODE_PEERS: readonly { id: TargetId; pkg: string; file: string }[] = [
  { id: 'http-proxy', pkg: 'http-proxy', file: 'peers/http-proxy.ts' },
  { id: 'fastify-http-proxy', pkg: '@fastify/http-proxy', file: 'peers/fastify-http-proxy.ts' },
];

/** startTs — a bench TypeScript file, compiled to plain JS, in its own Node process; resolves once it printed ready. */
async function startTs(spec: StartSpec, name: string, file: string, args: readonly string[], cpus: string | undefined): Promise<{ child: Child; port: number }> {
  const child = spawnChild({
    name,
    command: process.execPath,
    args: [compileStandalone(join(spec.root, 'bench'), file), ...args],
    cpus,
    logFile: join(spec.logDir, `${name}.log`),
  });
  const ready = await child.ready;
  return { child, port: ready.port };
}

/** startNativePeer — nginx or HAProxy as a proxy in front of blue, config generated into its own dir. */
async function startNativePeer(spec: StartSpec, kind: 'nginx' | 'haproxy', binary: string, upstreamPort: number): Promise<{ child: Child; port: number }> {
  const port = await freePort();
  const dir = join(spec.tempDir, `peer-${kind}`);
  const config = kind === 'nginx' ? nginxConfig({ port, upstreamPort, dir, asRoot: process.getuid?.() === 0 }) : haproxyConfig({ port, upstreamPort });
  const child = await startNative({ name: kind, kind, binary, dir, config, port, cpus: spec.proxyCpus, logDir: spec.logDir });
  return { child, port };
}

/** startAll — upstreams first (everything else points at them), then the proxies in parallel. */
export async function startAll(spec: StartSpec): Promise<Started> {
  const { blue, green } = await startUpstreams({ kind: spec.upstream, root: spec.root, tempDir: spec.tempDir, logDir: spec.logDir, nginx: spec.bin.nginx });
  const blueOrigin = `http://127.0.0.1:${blue.port}`;
  const missingPeers: string[] = [];
  const nodePeers = NODE_PEERS.filter((p) => spec.peers.includes(p.id) && existsSync(join(spec.root, 'node_modules', p.pkg)));
  for (const p of NODE_PEERS) {
    if (spec.peers.includes(p.id) && !nodePeers.includes(p)) missingPeers.push(`${p.pkg} (not installed: npm i -D ${p.pkg})`);
  }
  const natives = (['nginx', 'haproxy'] as const).filter((k) => spec.peers.includes(k) && spec.bin[k] !== undefined);
  for (const k of ['nginx', 'haproxy'] as const) {
    if (spec.peers.includes(k) && spec.bin[k] === undefined) missingPeers.push(`${k} (not installed: sh bench/setup.sh)`);
  }
  const [forwarder, switchyard, nodeProcs, nativeProcs] = await Promise.all([
    startTs(spec, 'forwarder', 'forwarder.ts', [blueOrigin], spec.proxyCpus),
    startSwitchyard({ root: spec.root, dir: spec.tempDir, bluePort: blue.port, greenPort: green.port, cpus: spec.proxyCpus, logDir: spec.logDir }),
    Promise.all(nodePeers.map((p) => startTs(spec, p.id, p.file, [blueOrigin], spec.proxyCpus))),
    Promise.all(natives.map((k) => startNativePeer(spec, k, spec.bin[k] as string, blue.port))),
  ]);
  const peer = (id: TargetId, p: { child: Child; port: number }): Target => ({ id, origin: `http://127.0.0.1:${p.port}`, pid: p.child.pid });
  const targets: Target[] = [
    { id: 'direct', origin: blueOrigin, pid: blue.child.pid },
    { id: 'forwarder', origin: `http://127.0.0.1:${forwarder.port}`, pid: forwarder.child.pid },
    { id: 'switchyard', origin: switchyard.url, pid: switchyard.child.pid },
    ...natives.map((k, i) => peer(k, nativeProcs[i] as { child: Child; port: number })),
    ...nodePeers.map((p, i) => peer(p.id, nodeProcs[i] as { child: Child; port: number })),
  ];
  const pids = [...targets.map((t) => t.pid), green.child.pid];
  return { targets, blue, green, switchyard, missingPeers, pids };
}

/**
 * checkTarget — before any measuring, each request shape the run will send
 * must come back 200 with the upstream's body (blue's 100 bytes, or 1 MiB for
 * /1m) through this target: a peer that answers 413 to the 1 MiB POST, or
 * whose config points elsewhere, would otherwise be measured at full speed
 * doing the wrong thing.
 */
export async function checkTarget(t: Target, scenarios: readonly Scenario[]): Promise<void> {
  const shapes = new Map(scenarios.map((s) => [`${SCENARIOS[s].method} ${SCENARIOS[s].path}`, SCENARIOS[s]]));
  if (shapes.size === 0) shapes.set('GET /', SCENARIOS.get);
  for (const sc of shapes.values()) {
    const res = await request(`${t.origin}${sc.path}`, {
      method: sc.method,
      body: sc.bodyBytes > 0 ? Buffer.alloc(sc.bodyBytes, 0x78) : undefined,
      headers: sc.bodyBytes > 0 ? { 'content-type': 'application/octet-stream' } : undefined,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const body = await res.body.text();
    const want = sc.path === '/1m' ? 1024 * 1024 : 100;
    if (res.statusCode !== 200 || body.length !== want || (want === 100 && !body.startsWith('blue:'))) {
      throw new Error(`${t.id} at ${t.origin}: ${sc.method} ${sc.path} answered ${res.statusCode} with ${body.length} bytes (${JSON.stringify(body.slice(0, 80))}); expected 200 and blue's ${want}-byte body`);
    }
  }
}
