/**
 * bench/lib/native — the native processes of a run (nginx and HAProxy, as
 * peers or as upstreams): find the Debian binaries, write a generated config
 * into a private directory under the run's temp dir, start the binary in the
 * foreground (no system service, nothing under /etc or /var), and wait until
 * its port accepts connections. Whether it answers correctly is checked by
 * the caller with a real request, like every other target.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { spawnChild, type Child } from './children.js';

/**
 * findBinary — the first executable `name` in the sbin/bin directories Debian
 * installs to, then PATH. `override` (from BENCH_NGINX / BENCH_HAPROXY) names
 * another binary, or `none` to run as if it were not installed.
 */
export function findBinary(name: string, override?: string): string | undefined {
  if (override === 'none') return undefined;
  if (override !== undefined && override !== '') return existsSync(override) ? override : undefined;
  const dirs = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', ...(process.env.PATH ?? '').split(delimiter)];
  for (const dir of dirs) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** binaryVersion — first line a `-v` style call printed on stdout or stderr (nginx uses stderr), or undefined. */
export function binaryVersion(path: string, args: readonly string[]): string | undefined {
  const r = spawnSync(path, [...args], { encoding: 'utf8', timeout: 5_000 });
  const first = `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0]?.trim();
  return first === undefined || first === '' ? undefined : first;
}

/** waitPort — resolve once 127.0.0.1:port accepts a TCP connection; reject if `child` exits or `timeoutMs` passes. */
export async function waitPort(child: Child, port: number, timeoutMs: number, logFile: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) throw new Error(`${child.name} exited (${String(child.proc.exitCode ?? child.proc.signalCode)}) during start; see ${logFile}`);
    const open = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`${child.name} not listening on ${port} after ${timeoutMs} ms; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** NativeSpec — one native server to start. */
export interface NativeSpec {
  readonly name: string;
  readonly kind: 'nginx' | 'haproxy';
  readonly binary: string;
  /** A fresh directory for its config, pid file, logs and temp files. */
  readonly dir: string;
  readonly config: string;
  readonly port: number;
  readonly cpus: string | undefined;
  readonly logDir: string;
}

/** startNative — write the config, start the binary in the foreground, wait for its port. */
export async function startNative(spec: NativeSpec): Promise<Child> {
  mkdirSync(spec.dir, { recursive: true });
  const conf = join(spec.dir, spec.kind === 'nginx' ? 'nginx.conf' : 'haproxy.cfg');
  writeFileSync(conf, spec.config);
  // nginx: -p/-e keep every path, even the log opened before the config is read, in our dir (`daemon off` is in the config).
  // HAProxy: -db = foreground, no daemon, no master process.
  const args = spec.kind === 'nginx' ? ['-p', spec.dir, '-c', conf, '-e', join(spec.dir, 'error.log')] : ['-db', '-f', conf];
  const logFile = join(spec.logDir, `${spec.name}.log`);
  const child = spawnChild({ name: spec.name, command: spec.binary, args, cpus: spec.cpus, logFile, waitReady: false });
  await waitPort(child, spec.port, 10_000, logFile);
  return child;
}
