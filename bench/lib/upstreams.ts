/**
 * bench/lib/upstreams — the two upstreams every proxy forwards to (blue and
 * green: the switch run flips between them), either bench/upstream.ts in Node
 * or nginx serving the same routes (`--upstream`). Both report what they saw
 * — requests and TCP connections accepted — so the report can show whether a
 * proxy reuses upstream connections and where traffic went during a switch.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { spawnChild, type Child } from './children.js';
import { compileStandalone } from './compile.js';
import { startNative } from './native.js';
import { nginxUpstreamConfig } from './nginx.js';
import { freePort } from './switchyard.js';

/** UpstreamCounts — what an upstream has seen so far (bench requests, TCP connections accepted). */
export interface UpstreamCounts {
  readonly requests: number;
  readonly connections: number;
}

/** Upstream — one running upstream and how to read its counters. */
export interface Upstream {
  readonly name: 'blue' | 'green';
  readonly child: Child;
  readonly port: number;
  /** Requests and connections so far; undefined if it does not answer. */
  counts(): Promise<UpstreamCounts | undefined>;
}

/** UpstreamSpec — what to start and where. */
export interface UpstreamSpec {
  readonly kind: 'node' | 'nginx';
  readonly root: string;
  readonly tempDir: string;
  readonly logDir: string;
  /** nginx binary (kind nginx only). */
  readonly nginx: string | undefined;
}

async function getText(url: string): Promise<string | undefined> {
  try {
    const res = await request(url, { headersTimeout: 5_000, bodyTimeout: 5_000 });
    const text = await res.body.text();
    return res.statusCode === 200 ? text : undefined;
  } catch {
    return undefined;
  }
}

/** startNodeUpstream — bench/upstream.ts; /__stats is JSON and counts neither itself nor /healthz. */
async function startNodeUpstream(spec: UpstreamSpec, name: 'blue' | 'green'): Promise<Upstream> {
  const child = spawnChild({
    name: `upstream-${name}`,
    command: process.execPath,
    args: [compileStandalone(join(spec.root, 'bench'), 'upstream.ts'), name],
    cpus: undefined,
    logFile: join(spec.logDir, `upstream-${name}.log`),
  });
  const { port } = await child.ready;
  return {
    name,
    child,
    port,
    async counts() {
      const text = await getText(`http://127.0.0.1:${port}/__stats`);
      if (text === undefined) return undefined;
      const body = JSON.parse(text) as Partial<UpstreamCounts>;
      return body.requests === undefined || body.connections === undefined ? undefined : { requests: body.requests, connections: body.connections };
    },
  };
}

/**
 * startNginxUpstream — nginx with stub_status at /__stats. stub_status counts
 * every request, its own reads included, so those are subtracted; Switchyard's
 * health probes (about one a second) stay in, as they would not in Node's count.
 */
async function startNginxUpstream(spec: UpstreamSpec, name: 'blue' | 'green', binary: string): Promise<Upstream> {
  const port = await freePort();
  const dir = join(spec.tempDir, `upstream-${name}`);
  const oneMiBFile = join(spec.tempDir, '1m.bin');
  writeFileSync(oneMiBFile, Buffer.alloc(1024 * 1024, 0x79));
  const config = nginxUpstreamConfig({ port, name, dir, asRoot: process.getuid?.() === 0, oneMiBFile });
  const child = await startNative({ name: `upstream-${name}`, kind: 'nginx', binary, dir, config, port, cpus: undefined, logDir: spec.logDir });
  let reads = 0;
  return {
    name,
    child,
    port,
    async counts() {
      reads++;
      const text = await getText(`http://127.0.0.1:${port}/__stats`);
      // " accepts handled requests\n A H R"
      const m = text === undefined ? null : /\n\s*(\d+)\s+(\d+)\s+(\d+)\s*\n/.exec(text);
      return m === null ? undefined : { connections: Number(m[1]), requests: Number(m[3]) - reads };
    },
  };
}

/** startUpstreams — blue and green, in parallel. */
export async function startUpstreams(spec: UpstreamSpec): Promise<{ blue: Upstream; green: Upstream }> {
  if (spec.kind === 'nginx') {
    if (spec.nginx === undefined) throw new Error('--upstream nginx: nginx is not installed (sh bench/setup.sh)');
    const bin = spec.nginx;
    const [blue, green] = await Promise.all([startNginxUpstream(spec, 'blue', bin), startNginxUpstream(spec, 'green', bin)]);
    return { blue, green };
  }
  const [blue, green] = await Promise.all([startNodeUpstream(spec, 'blue'), startNodeUpstream(spec, 'green')]);
  return { blue, green };
}

/** countsDelta — after − before, or undefined when either read failed. */
export function countsDelta(before: UpstreamCounts | undefined, after: UpstreamCounts | undefined): UpstreamCounts | undefined {
  if (before === undefined || after === undefined) return undefined;
  return { requests: after.requests - before.requests, connections: after.connections - before.connections };
}
