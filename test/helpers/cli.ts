/**
 * test/helpers/cli — run the real CLI (`src/cli.ts` through tsx, so the tests
 * do not depend on a build) as a child process from the repo root, with an
 * environment free of the caller's SWITCHYARD_* variables.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** REPO_ROOT — where `src/cli.ts` and node_modules (tsx) are. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** CliResult — how a finished CLI run ended and what it printed. */
export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** RunningCli — a started CLI process; `stdout`/`stderr` grow as it prints; `exited` resolves once it ends. */
export interface RunningCli {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<CliResult>;
  /** running — true until the process has exited. */
  readonly running: () => boolean;
}

function cliEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SWITCHYARD_')) out[k] = v;
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}

/** startCli — spawns `node --import tsx src/cli.ts ...args`; `env` entries are added (undefined removes one). */
export function startCli(args: readonly string[], env: Record<string, string | undefined> = {}): RunningCli {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: REPO_ROOT,
    env: cliEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  let done = false;
  // 'close' (not 'exit') so every byte of output has been read.
  const exited = once(child, 'close').then(([code, signal]) => {
    done = true;
    return { code: code as number | null, signal: signal as NodeJS.Signals | null, stdout, stderr };
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited, running: () => !done };
}

/** runCli — runs the CLI to completion (killed after `timeoutMs`, default 20 s). */
export async function runCli(args: readonly string[], env: Record<string, string | undefined> = {}, timeoutMs = 20_000): Promise<CliResult> {
  const cli = startCli(args, env);
  const timer = setTimeout(() => cli.child.kill('SIGKILL'), timeoutMs);
  try {
    return await cli.exited;
  } finally {
    clearTimeout(timer);
  }
}
