/**
 * bench/lib/machine — what a figure was measured on. Results without the
 * machine, Node and undici versions cannot be compared with a later run
 * (pino's and undici's benchmarks record the same).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';

/** Machine — the facts printed above every result table. */
export interface Machine {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly kernel: string;
  readonly memGiB: number;
  readonly node: string;
  readonly undici: string;
  readonly switchyard: string;
  readonly wrk: string | undefined;
  /** 1-minute load average when the bench started: how busy the shared machine already was. */
  readonly loadAvgAtStart: number;
}

function packageVersion(root: string, name: string): string {
  try {
    const pkg = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'not installed';
  }
}

function cpuModel(): string {
  try {
    return /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** wrkVersion — first line of `wrk -v` (wrk prints its version and usage, exit code 1). */
export function wrkVersion(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  try {
    execFileSync(path, ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const out = (err as { stdout?: string }).stdout ?? '';
    const first = out.split('\n')[0]?.replace(/\s*Copyright.*$/, '').trim();
    if (first !== undefined && first !== '') return first;
  }
  return 'unknown';
}

/** describeMachine — collect the facts once, at the start of a run. */
export function describeMachine(root: string, wrkPath: string | undefined): Machine {
  const own = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string };
  return {
    cpus: availableParallelism(),
    cpuModel: cpuModel(),
    kernel: release(),
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    undici: packageVersion(root, 'undici'),
    switchyard: own.version ?? 'unknown',
    wrk: wrkPath === undefined ? undefined : wrkVersion(wrkPath),
    loadAvgAtStart: loadavg()[0] ?? 0,
  };
}
