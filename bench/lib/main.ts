/**
 * bench/lib/main — the life-cycle every bench entry shares: options parsed or
 * usage printed (exit 2), every child process stopped and every temp dir
 * removed however the run ends (normal exit, error, SIGINT/SIGTERM).
 */
import { rmSync } from 'node:fs';
import { killAllNow, stopAll } from './children.js';
import { say } from './say.js';

/** tempDirs — directories the run made; removed on exit. */
export const tempDirs: string[] = [];

/** optionsOrExit — `parse()`'s result, or the usage (and the error) on stderr and exit 2. `--help` parsers throw Error(usage). */
export function optionsOrExit<T>(parse: () => T, usage: string): T {
  try {
    return parse();
  } catch (err) {
    process.stderr.write(`${(err as Error).message === usage ? '' : `bench: ${(err as Error).message}\n\n`}${usage}\n`);
    process.exit(2);
  }
}

/** runBench — run `main`, stopping every child and removing temp dirs on any way out. */
export function runBench(main: (argv: readonly string[]) => Promise<void>): void {
  process.on('SIGINT', () => void stopAll(2_000).finally(() => process.exit(130)));
  process.on('SIGTERM', () => void stopAll(2_000).finally(() => process.exit(130)));
  process.on('exit', () => {
    killAllNow();
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });
  main(process.argv.slice(2)).catch(async (err: unknown) => {
    say(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await stopAll(2_000);
    process.exit(1);
  });
}
