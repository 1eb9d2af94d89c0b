/**
 * test/helpers/child — run Switchyard as a separate process, the way it runs in
 * production (`node --import tsx src/cli.ts start --config FILE`), for tests
 * that need a process of its own: signals, kill -9, memory measured apart from
 * the test's own clients and upstreams. Ports are concrete (freePort()) because
 * the CLI reads them from the config file. Output (pino JSON on stdout, and
 * stderr) is captured for assertions; the process is SIGKILLed in teardown if
 * it is still running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { stringify } from 'yaml';
import { freePort, request, type TestResponse } from './http.js';
import { waitFor } from './wait.js';

export const CHILD_TOKEN = 'child-test-token';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** ChildConfig — a config file written for a child Switchyard, with the ports it names. */
export interface ChildConfig {
  readonly file: string;
  readonly stateFile: string;
  readonly httpPort: number;
  readonly adminPort: number;
}

/**
 * writeChildConfig — write `dir/switchyard.yaml`: listeners on fresh 127.0.0.1
 * ports, a state file in `dir`, the given pools (name → server addresses), the
 * first pool live; `extra` top-level keys replace the generated ones, except
 * `listen`, whose keys are added to the generated http and admin listeners.
 */
export async function writeChildConfig(
  dir: string,
  pools: Record<string, readonly string[]>,
  extra: Record<string, unknown> = {},
): Promise<ChildConfig> {
  const httpPort = await freePort();
  const adminPort = await freePort();
  const file = join(dir, 'switchyard.yaml');
  const stateFile = join(dir, 'state.json');
  const { listen: extraListen, ...rest } = extra;
  const config: Record<string, unknown> = {
    listen: { http: `127.0.0.1:${httpPort}`, admin: `127.0.0.1:${adminPort}`, ...(extraListen as Record<string, unknown> | undefined) },
    admin: { token: CHILD_TOKEN },
    state: { file: stateFile },
    live: Object.keys(pools)[0],
    pools: Object.fromEntries(Object.entries(pools).map(([name, servers]) => [name, { servers: servers.map((address) => ({ address })) }])),
    health: { enabled: false },
    log: { level: 'info' },
    ...rest,
  };
  await writeFile(file, stringify(config));
  return { file, stateFile, httpPort, adminPort };
}

/** ChildSwitchyard — a running child process. */
export interface ChildSwitchyard {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** http://127.0.0.1:PORT of the public proxy listener. */
  readonly url: string;
  readonly adminUrl: string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** api — call the admin API with the token. */
  api(method: string, path: string, body?: unknown): Promise<TestResponse & { json: unknown }>;
  /** rssBytes — the process's resident set size now (Linux /proc). */
  rssBytes(): Promise<number>;
}

/**
 * spawnSwitchyard — start `switchyard start --config FILE` and resolve once the
 * admin API answers /healthz (the CLI binds admin last, after the proxy
 * listeners). Rejects with the captured output if the process exits first.
 */
export async function spawnSwitchyard(t: Test, config: ChildConfig, opts: { readyTimeoutMs?: number } = {}): Promise<ChildSwitchyard> {
  const env = { ...process.env };
  delete env.SWITCHYARD_ADMIN_TOKEN;
  delete env.NODE_OPTIONS; // tap's loaders are for the test process, not for the product
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start', '--config', config.file], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  proc.stderr?.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });
  t.teardown(async () => {
    if (exitInfo === undefined) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  const pid = proc.pid;
  if (pid === undefined) throw new Error('spawn failed: no pid');
  const adminUrl = `http://127.0.0.1:${config.adminPort}`;
  await waitFor(
    async () => {
      if (exitInfo !== undefined) throw new Error(`switchyard exited early (${JSON.stringify(exitInfo)}):\n${out}`);
      const res = await request(`${adminUrl}/healthz`, { timeoutMs: 1000 });
      return res.status === 200;
    },
    { timeoutMs: opts.readyTimeoutMs ?? 30_000, intervalMs: 50, message: 'child switchyard admin /healthz' },
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n--- child output ---\n${out}`);
  });
  return {
    proc,
    pid,
    url: `http://127.0.0.1:${config.httpPort}`,
    adminUrl,
    exited,
    output: () => out,
    async api(method, path, body) {
      const headers: Record<string, string> = { authorization: `Bearer ${CHILD_TOKEN}` };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await request(`${adminUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      let json: unknown;
      try {
        json = JSON.parse(res.body);
      } catch {
        json = undefined;
      }
      return { ...res, json };
    },
    rssBytes: () => rssBytes(pid),
  };
}

/** rssBytes — VmRSS of a process, from /proc/<pid>/status. */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** RssSampler — polls a process's RSS in the background and keeps the peak. */
export class RssSampler {
  peak = 0;
  samples = 0;
  readonly #pid: number;
  readonly #timer: NodeJS.Timeout;
  #reading = false;

  constructor(pid: number, intervalMs = 20) {
    this.#pid = pid;
    this.#timer = setInterval(() => void this.sample(), intervalMs);
  }

  /** sample — one reading now (also called by the timer; overlapping reads are skipped). */
  async sample(): Promise<void> {
    if (this.#reading) return;
    this.#reading = true;
    try {
      const rss = await rssBytes(this.#pid);
      this.samples++;
      if (rss > this.peak) this.peak = rss;
    } catch {
      // The process may have exited between two samples.
    } finally {
      this.#reading = false;
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
