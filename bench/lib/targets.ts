/**
 * bench/lib/targets — start everything the load generator will talk to, each
 * in its own process: two upstreams (blue and green), the in-tree forwarder,
 * the optional Node peers, and Switchyard. Proxies are pinned to the proxy
 * CPU; upstreams are left to the scheduler (on 2 cores nothing is left to
 * give them alone), which the report states.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { spawnChild, type Child } from './children.js';
import type { TargetId } from './options.js';
import { startSwitchyard, type RunningSwitchyard } from './switchyard.js';

/** Target — one thing to load, and the pid whose CPU answers for it. */
export interface Target {
  readonly id: TargetId;
  readonly origin: string;
  readonly pid: number;
}

/** Started — every process of the run. */
export interface Started {
  readonly targets: readonly Target[];
  readonly blue: { readonly child: Child; readonly port: number };
  readonly green: { readonly child: Child; readonly port: number };
  readonly switchyard: RunningSwitchyard;
  /** Every long-lived process of the run (upstreams and proxies), for CPU accounting. */
  readonly pids: readonly number[];
  /** Peers asked for but not installed. */
  readonly missingPeers: readonly string[];
}

/** StartSpec — where things live and which CPU the proxies get. */
export interface StartSpec {
  readonly root: string;
  /** Temp dir for Switchyard's generated config and state file. */
  readonly tempDir: string;
  readonly logDir: string;
  readonly proxyCpus: string | undefined;
  /** Peers to start (those installed; the others are reported missing). */
  readonly peers: readonly TargetId[];
}

const PEERS: readonly { id: TargetId; pkg: string; file: string }[] = [
  { id: 'http-proxy', pkg: 'http-proxy', file: 'peers/http-proxy.ts' },
  { id: 'fastify-http-proxy', pkg: '@fastify/http-proxy', file: 'peers/fastify-http-proxy.ts' },
];

/** startTs — a bench TypeScript file in its own Node process through tsx; resolves once it printed ready. */
async function startTs(spec: StartSpec, name: string, file: string, args: readonly string[], cpus: string | undefined): Promise<{ child: Child; port: number }> {
  const child = spawnChild({
    name,
    command: process.execPath,
    args: ['--import', 'tsx', join(spec.root, 'bench', file), ...args],
    cpus,
    logFile: join(spec.logDir, `${name}.log`),
  });
  const ready = await child.ready;
  return { child, port: ready.port };
}

/** startAll — upstreams first (everything else points at them), then the proxies in parallel. */
export async function startAll(spec: StartSpec): Promise<Started> {
  const [blue, green] = await Promise.all([
    startTs(spec, 'upstream-blue', 'upstream.ts', ['blue'], undefined),
    startTs(spec, 'upstream-green', 'upstream.ts', ['green'], undefined),
  ]);
  const blueOrigin = `http://127.0.0.1:${blue.port}`;
  const wanted = PEERS.filter((p) => spec.peers.includes(p.id));
  const peers = wanted.filter((p) => existsSync(join(spec.root, 'node_modules', p.pkg)));
  const missingPeers = wanted.filter((p) => !peers.includes(p)).map((p) => p.pkg);
  const [forwarder, switchyard, ...peerProcs] = await Promise.all([
    startTs(spec, 'forwarder', 'forwarder.ts', [blueOrigin], spec.proxyCpus),
    startSwitchyard({ root: spec.root, dir: spec.tempDir, bluePort: blue.port, greenPort: green.port, cpus: spec.proxyCpus, logDir: spec.logDir }),
    ...peers.map((p) => startTs(spec, p.id, p.file, [blueOrigin], spec.proxyCpus)),
  ]);
  const targets: Target[] = [
    { id: 'direct', origin: blueOrigin, pid: blue.child.pid },
    { id: 'forwarder', origin: `http://127.0.0.1:${forwarder.port}`, pid: forwarder.child.pid },
    { id: 'switchyard', origin: switchyard.url, pid: switchyard.child.pid },
    ...peers.map((p, i) => {
      const proc = peerProcs[i] as { child: Child; port: number };
      return { id: p.id, origin: `http://127.0.0.1:${proc.port}`, pid: proc.child.pid };
    }),
  ];
  const pids = [...targets.map((t) => t.pid), green.child.pid];
  return { targets, blue, green, switchyard, missingPeers, pids };
}

/** checkTarget — one GET / must come back 200 with the upstream's 100-byte body, or the numbers would mean nothing. */
export async function checkTarget(t: Target): Promise<void> {
  const res = await request(`${t.origin}/`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
  const body = await res.body.text();
  if (res.statusCode !== 200 || body.length !== 100 || !body.startsWith('blue:')) {
    throw new Error(`${t.id} at ${t.origin} answered ${res.statusCode} with ${body.length} bytes (${JSON.stringify(body.slice(0, 80))}); expected 200 and blue's 100-byte body`);
  }
}

/** UpstreamCounts — what an upstream has seen so far (bench requests, TCP connections accepted). */
export interface UpstreamCounts {
  readonly requests: number;
  readonly connections: number;
}

/** upstreamCounts — read an upstream's /__stats; undefined if it does not answer. */
export async function upstreamCounts(port: number): Promise<UpstreamCounts | undefined> {
  try {
    const res = await request(`http://127.0.0.1:${port}/__stats`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
    const body = (await res.body.json()) as Partial<UpstreamCounts>;
    return body.requests === undefined || body.connections === undefined ? undefined : { requests: body.requests, connections: body.connections };
  } catch {
    return undefined;
  }
}

/** countsDelta — after − before, or undefined when either read failed. */
export function countsDelta(before: UpstreamCounts | undefined, after: UpstreamCounts | undefined): UpstreamCounts | undefined {
  if (before === undefined || after === undefined) return undefined;
  return { requests: after.requests - before.requests, connections: after.connections - before.connections };
}
