/**
 * cluster/worker-main — the entry node:cluster forks for each proxy worker
 * (see cluster/primary.ts); everything else is in cluster/worker.ts.
 */
import { runWorker } from './worker.js';

runWorker().catch((err: unknown) => {
  process.stderr.write(`switchyard worker: ${(err as Error).message}\n`);
  process.exit(1);
});
