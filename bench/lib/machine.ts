/**
 * bench/lib/machine — what a figure was measured on. Results without the
 * machine, Node and undici versions cannot be compared with a later run
 * (pino's and undici's benchmarks record the same).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { binaryVersion } from './native.js';

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
  /** `nginx -v` / `haproxy -v` first lines, undefined when not installed. */
  readonly nginx: string | undefined;
  readonly haproxy: string | undefined;
  readonly httpProxy: string;
  readonly fastifyHttpProxy: string;
  /** Commit and work-tree state: the lead edits src/ while benches run, so a figure needs its exact code. */
  readonly git: string;
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

/**
 * gitState — `abc1234, work tree clean`, or the commit plus what is
 * uncommitted: paths counted per top-level directory, and those under src/
 * named (the code being measured; others edit it while benches run).
 * Read-only: `--no-optional-locks` keeps `git status` from refreshing the
 * index, so it never takes index.lock from under someone committing.
 */
export function gitState(root: string): string {
  const git = (args: readonly string[]): string => execFileSync('git', ['--no-optional-locks', ...args], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
  try {
    const head = git(['rev-parse', '--short', 'HEAD']).trim();
    const paths = git(['status', '--porcelain']).split('\n').filter((l) => l.trim() !== '').map((l) => l.slice(3));
    if (paths.length === 0) return `${head}, work tree clean`;
    const byDir = new Map<string, number>();
    for (const p of paths) {
      const top = p.includes('/') ? `${p.slice(0, p.indexOf('/'))}/` : p;
      byDir.set(top, (byDir.get(top) ?? 0) + 1);
    }
    const src = paths.filter((p) => p.startsWith('src/'));
    const counts = [...byDir].map(([dir, n]) => `${dir} ${n}`).join(', ');
    return `${head} + uncommitted changes (${counts})${src.length > 0 ? `; src/ changed: ${src.slice(0, 25).join(', ')}${src.length > 25 ? ', …' : ''}` : ''}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

/** describeMachine — collect the facts once, at the start of a run. */
export function describeMachine(root: string, wrkPath: string | undefined, bin: { readonly nginx: string | undefined; readonly haproxy: string | undefined }): Machine {
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
    nginx: bin.nginx === undefined ? undefined : binaryVersion(bin.nginx, ['-v'])?.replace(/^nginx version: /, ''),
    haproxy: bin.haproxy === undefined ? undefined : binaryVersion(bin.haproxy, ['-v'])?.replace(/ - https?:.*$/, ''),
    httpProxy: packageVersion(root, 'http-proxy'),
    fastifyHttpProxy: packageVersion(root, '@fastify/http-proxy'),
    git: gitState(root),
    loadAvgAtStart: loadavg()[0] ?? 0,
  };
}
