/**
 * bench/lib/compile — turn a bench process's TypeScript (forwarder, upstream,
 * Node peers) into plain JavaScript before it is started, so it runs on bare
 * `node` like Switchyard's dist/. Running them through tsx instead would load
 * its loader and esbuild into every measured process: about 35 MiB more RSS
 * (measured: an idle node:http server, 43 MiB plain vs 78 MiB under
 * `--import tsx`), which would make every Node peer look heavier than
 * Switchyard for a reason that has nothing to do with proxying.
 *
 * Each file is transpiled alone (`transpileModule`: types stripped, no type
 * check — `npm run typecheck` does that) into bench/out/js/, inside the
 * project so its bare imports (undici, fastify, …) resolve from node_modules.
 * These files import only packages and node: builtins, never each other.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import ts from 'typescript';

/** compileStandalone — bench/<file>.ts → bench/out/js/<name>.mjs; returns the output path. */
export function compileStandalone(benchDir: string, file: string): string {
  const src = readFileSync(join(benchDir, file), 'utf8');
  const out = ts.transpileModule(src, {
    fileName: file,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  const dir = join(benchDir, 'out', 'js');
  mkdirSync(dir, { recursive: true });
  const target = join(dir, `${basename(file, '.ts')}.mjs`);
  writeFileSync(target, out.outputText);
  return target;
}
