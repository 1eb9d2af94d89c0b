/**
 * cluster/worker — a proxy worker of multi-core mode. It builds the app in
 * role 'worker' from the config its primary sends, adopts the primary's
 * routing state and health verdicts *before* it binds its listeners (so a
 * restarted worker never routes by a stale generation), then:
 *  - applies each routing change and acknowledges it (the primary's switch
 *    answers only once every worker acknowledged);
 *  - applies health verdicts (the primary runs the one set of probes);
 *  - reports its draining counts (on each ack, and every LOAD_INTERVAL_MS
 *    when they changed) and its passive ejections;
 *  - answers metrics and certificate-reload requests;
 *  - on `sy:stop`, stops gracefully and exits 0 (1 when in-flight requests
 *    had to be cut at the shutdown deadline).
 * Signals are the primary's business: a Ctrl-C reaches the whole process
 * group, and a worker that died on it would cut its requests while the
 * primary still drains.
 */
import type { App } from '../app.js';
import { createApp } from '../app.js';
import { createLogger } from '../log.js';
import { eachServer, readLoad, sameLoad, serverVector } from './load.js';
import { isMessage, type FromWorker, type LoadReport, type ToWorker } from './protocol.js';

/** LOAD_INTERVAL_MS — how often a worker checks whether its counts changed (the drain view's staleness bound). */
export const LOAD_INTERVAL_MS = 50;

type InitMessage = Extract<ToWorker, { t: 'sy:init' }>;

/** runWorker — the worker process's main; resolves once it listens (it then lives until `sy:stop`). */
export async function runWorker(): Promise<void> {
  const slot = Number(process.env.SWITCHYARD_WORKER_SLOT ?? '0');
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, noop);
  let app: App | undefined;
  // Messages that arrive while the app is being built are applied, in order, right after.
  const early: ToWorker[] = [];
  let onInit: ((m: InitMessage) => void) | undefined;
  process.on('message', (message: unknown) => {
    if (!isMessage<ToWorker>(message)) return;
    if (message.t === 'sy:init') onInit?.(message);
    // Stopped before it listens (the primary shuts down mid-restart): nothing to finish.
    else if (message.t === 'sy:stop' && app === undefined) process.exit(0);
    else if (app === undefined) early.push(message);
    else handle(app, message);
  });
  const init = await new Promise<InitMessage>((resolve) => {
    onInit = resolve;
    send({ t: 'sy:hello' });
  });
  onInit = undefined;
  const config = init.config;
  const log = createLogger(config.log.level).child({ worker: slot });
  const built = await createApp(config, { log, role: 'worker' });
  built.router.adopt(init.state, { action: 'init', who: 'primary', detail: { generation: init.state.generation } });
  applyHealth(built, init.healthy, 'initial state from the primary');
  forwardEjections(built);
  app = built;
  // Changes that came while it was being built, before any listener binds (a stop cannot be
  // among them: one that arrives before the app exists exits at once).
  for (const m of early.splice(0)) handle(built, m);
  const starting = built.start();
  // A stop must wait for the listeners: closing a server whose listen node:cluster is still
  // completing with the primary crashes inside Node (listenOnPrimaryHandle).
  listening = starting.catch(() => undefined);
  try {
    await starting;
  } catch (err) {
    send({ t: 'sy:failed', message: (err as Error).message });
    process.exit(1);
  }
  send({ t: 'sy:listening', addresses: { ...built.addresses }, load: load(built) });
  startLoadReports(built);
}

/** listening — settles once this worker's start() has (bound or failed). */
let listening: Promise<unknown> = Promise.resolve();

function handle(app: App, m: ToWorker): void {
  switch (m.t) {
    case 'sy:routing':
      app.router.adopt(m.state, m.change);
      send({ t: 'sy:ack', seq: m.seq, load: load(app) });
      return;
    case 'sy:health':
      applyHealth(app, m.healthy, m.reason);
      return;
    case 'sy:metrics':
      app.metrics.registry.getMetricsAsJSON().then(
        (metrics) => send({ t: 'sy:metrics', id: m.id, metrics }),
        () => send({ t: 'sy:metrics', id: m.id, metrics: [] }),
      );
      return;
    case 'sy:reload-certs':
      app.reloadCerts().then(
        (result) => send({ t: 'sy:reload-certs', id: m.id, result }),
        (err: Error) => send({ t: 'sy:reload-certs', id: m.id, error: err.message }),
      );
      return;
    case 'sy:stop':
      // Load reports go on while it drains: the primary's state view shows the drain.
      void listening.then(() => app.stop()).then(
        (clean) => process.exit(clean ? 0 : 1),
        () => process.exit(1),
      );
      return;
    case 'sy:init':
      return; // only the first one counts
  }
}

function applyHealth(app: App, healthy: readonly boolean[], reason: string): void {
  eachServer(app.poolTable, (s, i) => {
    const h = healthy[i];
    if (h !== undefined) s.setHealthy(h, reason);
  });
}

/** forwardEjections — tell the primary this worker's ejection state on every flip (coalesced per tick). */
function forwardEjections(app: App): void {
  let pending: string | undefined;
  app.bus.on('ejection', (_pool, _server, _ejected, reason) => {
    if (pending !== undefined) return;
    pending = reason;
    setImmediate(() => {
      send({ t: 'sy:ejected', ejected: serverVector(app.poolTable, (s) => s.ejected), reason: pending ?? '' });
      pending = undefined;
    });
  });
}

let lastLoad: LoadReport | undefined;

function load(app: App): LoadReport {
  lastLoad = readLoad(app.poolTable, app.tcpPools, app.requestRate());
  return lastLoad;
}

function startLoadReports(app: App): void {
  const timer = setInterval(() => {
    const next = readLoad(app.poolTable, app.tcpPools, app.requestRate());
    if (sameLoad(lastLoad, next)) return;
    lastLoad = next;
    send({ t: 'sy:load', load: next });
  }, LOAD_INTERVAL_MS);
  timer.unref();
}

function send(message: FromWorker): void {
  // After the primary is gone there is nobody to tell (node:cluster exits the worker on disconnect).
  if (process.connected) process.send?.(message);
}

function noop(): void {}
