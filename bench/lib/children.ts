/**
 * bench/lib/children — every process the bench starts goes through `spawnChild`,
 * so one registry can end them all: on normal exit, on an error, on SIGINT or
 * SIGTERM. A benchmark that leaves an upstream listening would skew the next
 * run on this 2-core machine, so cleanup is not optional.
 *
 * Children announce readiness with one JSON line on stdout
 * (`{"ready":true,"port":N,…}`); everything they print is kept in a log file
 * under bench/out/logs so warnings under load can be counted afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { descendants } from './procstat.js';

/** ReadyMessage — what a child prints once it is listening. */
export interface ReadyMessage {
  readonly ready: true;
  readonly port: number;
  readonly pid: number;
  readonly name?: string;
}

/** SpawnSpec — how to start one child. */
export interface SpawnSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** `taskset -c` CPU list, or undefined for "not pinned". */
  readonly cpus: string | undefined;
  /** Where stdout+stderr go (appended). */
  readonly logFile: string;
  /** Wait for a ReadyMessage line (default true); false for one-shot commands. */
  readonly waitReady?: boolean;
  readonly readyTimeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
}

/** Child — a started process and its life-cycle. */
export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly proc: ChildProcess;
  /** The ReadyMessage (rejects if the child exits or times out first). */
  readonly ready: Promise<ReadyMessage>;
  /** Exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Everything the child printed on stdout, one entry per line (for one-shot commands). */
  readonly lines: string[];
  /** stop — SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<Child>();

/** spawnChild — start `spec`, register it for cleanup, and watch its stdout for the ready line. */
export function spawnChild(spec: SpawnSpec): Child {
  const argv = spec.cpus === undefined ? [spec.command, ...spec.args] : ['taskset', '-c', spec.cpus, spec.command, ...spec.args];
  // taskset execs the command, so the pid we get is the measured process itself (RSS and CPU read from /proc).
  const proc = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: spec.env ?? process.env });
  if (proc.pid === undefined) {
    proc.once('error', () => undefined); // the ENOENT 'error' comes on a later tick; the throw below reports it
    throw new Error(`cannot start ${spec.name} (${argv.join(' ')})`);
  }
  const log: WriteStream = createWriteStream(spec.logFile, { flags: 'a' });
  log.write(`# ${new Date().toISOString()} ${argv.join(' ')}\n`);
  const lines: string[] = [];
  let stderrTail = '';
  const exited = new Promise<number | null>((resolve) => {
    proc.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    });
    // A spawn failure (ENOENT) emits 'error' and may never emit 'exit'.
    proc.once('error', (err) => {
      stderrTail += err.message;
      live.delete(child);
      resolve(null);
    });
  });
  let onReady: ((msg: ReadyMessage) => void) | undefined;
  const ready = new Promise<ReadyMessage>((resolve, reject) => {
    if (spec.waitReady === false) return;
    const timeoutMs = spec.readyTimeoutMs ?? 30_000;
    const timer = setTimeout(() => reject(new Error(`${spec.name}: not ready after ${timeoutMs} ms; see ${spec.logFile}`)), timeoutMs);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${spec.name} exited (code ${String(code)}) before it was ready: ${stderrTail.trim().slice(-600)}`));
    });
    onReady = (msg) => {
      clearTimeout(timer);
      resolve(msg);
    };
  });
  ready.catch(() => undefined); // callers that never await it must not see an unhandled rejection
  createInterface({ input: proc.stdout }).on('line', (line) => {
    lines.push(line);
    log.write(`${line}\n`);
    if (onReady !== undefined && line.startsWith('{"ready":true')) {
      onReady(JSON.parse(line) as ReadyMessage);
      onReady = undefined;
    }
  });
  proc.stderr.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-4000);
    log.write(chunk);
  });
  // 'close' (not 'exit'): stdout may still hold lines after the process is gone.
  proc.once('close', () => log.end());
  const child: Child = {
    name: spec.name,
    pid: proc.pid,
    proc,
    ready,
    exited,
    lines,
    async stop(graceMs = 3_000): Promise<void> {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      // nginx's workers are the master's children: a SIGKILLed master would leave them listening.
      const below = descendants(child.pid);
      proc.kill('SIGTERM');
      const timer = setTimeout(() => {
        killPids(below);
        proc.kill('SIGKILL');
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  live.add(child);
  return child;
}

/** stopAll — stop every child still running, in parallel. */
export async function stopAll(graceMs = 3_000): Promise<void> {
  await Promise.all([...live].map((c) => c.stop(graceMs)));
}

/** killPids — SIGKILL each pid that is still there (gone already is fine). */
function killPids(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** killAllNow — synchronous last resort for process 'exit', where nothing async runs any more; takes each child's descendants too. */
export function killAllNow(): void {
  for (const c of live) {
    killPids(descendants(c.pid));
    c.proc.kill('SIGKILL');
  }
}
