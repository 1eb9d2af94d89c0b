/**
 * cluster/primary — the workers' side of a multi-core primary (`workers: N`).
 * The primary's app keeps the admin API, the state store and the health
 * checks; this module forks N proxy workers (node:cluster, which shares the
 * listening sockets among them) and is the app's RemoteDataPlane:
 *
 *  - propagate(): each routing change goes to every worker that was given
 *    its initial state; the change (and so the admin call) completes only
 *    once every one of them acknowledged it. A worker that does not answer
 *    within ACK_TIMEOUT_MS is killed, and the barrier waits for its exit, so
 *    "answered" still means "no process routes by the old state".
 *  - A worker gets the config, the current state and every health verdict
 *    before it builds anything; it binds its listeners only after adopting
 *    them. A worker that exits unexpectedly is replaced in the same slot
 *    (after a back-off when it keeps dying young) and logged.
 *  - Health flips are broadcast; passive ejections reported by workers make
 *    a server ejected in the primary's view while any worker ejects it.
 *  - Draining counts: the latest report of each worker, summed (load.ts).
 *  - /metrics: the primary's registry plus each worker's, aggregated.
 */
import cluster, { type Worker } from 'node:cluster';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { CertReloadResult } from '../admin/context.js';
import type { AppParts, ProxyAddresses, RemoteDataPlane } from '../app.js';
import { SwitchyardError } from '../errors.js';
import type { RoutingChange } from '../events.js';
import type { Logger } from '../log.js';
import type { RegistryJson } from '../metrics/metrics.js';
import { CLOSE_GRACE_MS } from '../pools/long-lived.js';
import type { PassiveTracker } from '../pools/server.js';
import type { RoutingState } from '../routing/snapshot.js';
import { LoadSum, eachServer, serverVector } from './load.js';
import { isMessage, type FromWorker, type ToWorker } from './protocol.js';

/** ACK_TIMEOUT_MS — how long a worker may take to apply a routing change before it is killed (and replaced). */
export const ACK_TIMEOUT_MS = 5000;
/** ASK_TIMEOUT_MS — how long metrics and certificate-reload requests wait for a worker's answer. */
const ASK_TIMEOUT_MS = 5000;
/** A worker that dies younger than this counts as a crash loop: its replacement waits (100 ms doubling, at most MAX_RESTART_DELAY_MS). */
const YOUNG_MS = 5000;
const MAX_RESTART_DELAY_MS = 10_000;

/** WORKER_ENTRY — the worker's main module, beside this one (.ts under tsx, .js once built). */
const WORKER_ENTRY = fileURLToPath(new URL(`./worker-main${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

interface Member {
  readonly slot: number;
  readonly worker: Worker;
  readonly born: number;
  /** Sent its initial state: from now on every routing change waits for its ack. */
  inited: boolean;
  listening: boolean;
  addresses: ProxyAddresses | undefined;
  ejected: readonly boolean[];
}

interface Barrier {
  readonly seq: number;
  readonly waiting: Set<number>;
  readonly done: () => void;
}

interface Ask {
  readonly waiting: Set<number>;
  readonly replies: FromWorker[];
  readonly done: () => void;
}

/** RemoteEjection — a primary server's passive state: ejected while any worker ejects it. */
class RemoteEjection implements PassiveTracker {
  ejected = false;
  recordSuccess(): void {}
  recordFailure(): void {}
  close(): void {}
}

/** ClusterPrimary — forks, feeds, watches and stops the proxy workers. */
export class ClusterPrimary implements RemoteDataPlane {
  readonly #parts: AppParts;
  readonly #log: Logger;
  readonly #size: number;
  readonly #members = new Map<number, Member>();
  readonly #load: LoadSum;
  readonly #ejections: RemoteEjection[] = [];
  readonly #barriers = new Set<Barrier>();
  readonly #asks = new Map<number, Ask>();
  readonly #restartTimers = new Set<NodeJS.Timeout>();
  readonly #youngDeaths = new Map<number, number>();
  readonly #restarts: Counter;
  readonly #propagation: Histogram;
  #seq = 0;
  #askId = 0;
  #started = false;
  #stopping = false;
  #startFailed: ((err: Error) => void) | undefined;
  #allListening: (() => void) | undefined;
  #allExited: (() => void) | undefined;

  constructor(parts: AppParts, workers: number) {
    this.#parts = parts;
    this.#size = workers;
    this.#log = parts.log.child({ component: 'cluster' });
    this.#load = new LoadSum(parts.poolTable, parts.tcpPools);
    eachServer(parts.poolTable, (s) => {
      const e = new RemoteEjection();
      this.#ejections.push(e);
      s.passive = e;
    });
    parts.bus.on('health', (_pool, _server, _healthy, reason) => this.#broadcast({ t: 'sy:health', healthy: this.#healthVector(), reason }));
    parts.metrics.aggregateWith(() => this.#workerMetrics());
    const registers = [parts.metrics.registry];
    const members = this.#members;
    new Gauge({
      name: 'switchyard_workers',
      help: 'Proxy worker processes listening now (multi-core mode).',
      registers,
      collect() {
        let n = 0;
        for (const m of members.values()) if (m.listening) n++;
        this.set(n);
      },
    });
    this.#restarts = new Counter({ name: 'switchyard_worker_restarts_total', help: 'Proxy workers that exited unexpectedly and were replaced.', registers });
    this.#propagation = new Histogram({
      name: 'switchyard_switch_propagation_seconds',
      help: 'Time from a routing change being saved to every worker having applied it.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    cluster.setupPrimary({ exec: WORKER_ENTRY, args: [], serialization: 'advanced' });
    cluster.on('message', this.#onMessage);
    cluster.on('exit', this.#onExit);
  }

  /** ready — started and at least one worker listening: a worker being replaced does not take the whole instance out of rotation. */
  get ready(): boolean {
    if (this.#stopping || !this.#started) return false;
    for (const m of this.#members.values()) if (m.listening) return true;
    return false;
  }

  requestRate(): number {
    return this.#load.requestRate;
  }

  /** start — fork every worker; resolves once all listen, rejects (after stopping them) if one cannot start. */
  start(): Promise<ProxyAddresses> {
    return new Promise<ProxyAddresses>((resolve, reject) => {
      this.#startFailed = (err) => {
        this.#startFailed = undefined;
        this.#allListening = undefined;
        void this.stop().finally(() => reject(err));
      };
      this.#allListening = () => {
        this.#startFailed = undefined;
        this.#allListening = undefined;
        this.#started = true;
        const first = [...this.#members.values()][0]?.addresses;
        if (first === undefined) reject(new Error('no worker reported its addresses'));
        else resolve(first);
      };
      for (let slot = 0; slot < this.#size; slot++) this.#fork(slot);
    });
  }

  propagate(state: RoutingState, change: RoutingChange): Promise<void> {
    const seq = ++this.#seq;
    const targets = [...this.#members.values()].filter((m) => m.inited && m.worker.isConnected());
    if (targets.length === 0) return Promise.resolve();
    const started = process.hrtime.bigint();
    return new Promise<void>((resolve) => {
      const waiting = new Set(targets.map((m) => m.worker.id));
      const timer = setTimeout(() => {
        // A worker that cannot apply a change in time must not keep routing by the old one: kill it; its exit completes the barrier.
        for (const id of waiting) {
          const m = this.#members.get(id);
          this.#log.error({ worker: m?.slot, pid: m?.worker.process.pid, generation: state.generation, timeoutMs: ACK_TIMEOUT_MS }, 'worker did not apply a routing change in time; killing it (it will be replaced)');
          m?.worker.process.kill('SIGKILL');
        }
      }, ACK_TIMEOUT_MS);
      timer.unref();
      const barrier: Barrier = {
        seq,
        waiting,
        done: () => {
          clearTimeout(timer);
          this.#barriers.delete(barrier);
          this.#propagation.observe(Number(process.hrtime.bigint() - started) / 1e9);
          resolve();
        },
      };
      this.#barriers.add(barrier);
      const message: ToWorker = { t: 'sy:routing', seq, state, change };
      for (const m of targets) this.#send(m, message);
    });
  }

  async reloadCerts(): Promise<CertReloadResult> {
    const { replies, missing } = await this.#ask((id) => ({ t: 'sy:reload-certs', id }));
    const refused = replies.find((r): r is Extract<FromWorker, { t: 'sy:reload-certs' }> => r.t === 'sy:reload-certs' && r.error !== undefined);
    if (refused !== undefined) throw new SwitchyardError('SY_ERR_CERT_RELOAD', refused.error ?? 'certificate reload refused');
    if (missing.length > 0) throw new SwitchyardError('SY_ERR_CERT_RELOAD', `certificate reload: worker(s) ${missing.join(', ')} did not answer in time`);
    const ok = replies.find((r): r is Extract<FromWorker, { t: 'sy:reload-certs' }> => r.t === 'sy:reload-certs' && r.result !== undefined);
    return ok?.result ?? { listeners: 0, files: [] };
  }

  /** stop — every worker stops gracefully (bounded by shutdown.timeoutMs, then killed); true when all finished in time. */
  async stop(): Promise<boolean> {
    this.#stopping = true;
    for (const t of this.#restartTimers) clearTimeout(t);
    this.#restartTimers.clear();
    let clean = true;
    if (this.#members.size > 0) {
      const exited = new Promise<void>((resolve) => {
        this.#allExited = resolve;
      });
      const codes = new Promise<boolean>((resolve) => {
        let ok = true;
        const onExit = (_w: Worker, code: number | null): void => {
          if (code !== 0) ok = false;
        };
        cluster.on('exit', onExit);
        void exited.then(() => {
          cluster.off('exit', onExit);
          resolve(ok);
        });
      });
      for (const m of this.#members.values()) this.#send(m, { t: 'sy:stop' });
      const grace = this.#parts.config.shutdown.timeoutMs + CLOSE_GRACE_MS + 5000;
      const timer = setTimeout(() => {
        this.#log.error({ workers: [...this.#members.values()].map((m) => m.slot) }, 'workers did not stop in time; killing them');
        clean = false;
        for (const m of this.#members.values()) m.worker.process.kill('SIGKILL');
      }, grace);
      timer.unref();
      await exited;
      clearTimeout(timer);
      clean = (await codes) && clean;
    }
    cluster.off('message', this.#onMessage);
    cluster.off('exit', this.#onExit);
    return clean;
  }

  #fork(slot: number): void {
    const worker = cluster.fork({ SWITCHYARD_WORKER_SLOT: String(slot) });
    this.#members.set(worker.id, { slot, worker, born: Date.now(), inited: false, listening: false, addresses: undefined, ejected: [] });
    // An IPC write to a worker that just died is reported here, not thrown; its exit is handled below.
    worker.on('error', (err) => this.#log.warn({ worker: slot, err: err.message }, 'worker channel error'));
  }

  readonly #onMessage = (worker: Worker, message: unknown): void => {
    if (!isMessage<FromWorker>(message)) return;
    const m = this.#members.get(worker.id);
    if (m === undefined) return;
    switch (message.t) {
      case 'sy:hello': {
        // The current state and verdicts, sent before the worker builds anything; from here on every change waits for it.
        m.inited = true;
        this.#send(m, { t: 'sy:init', config: this.#parts.config, seq: this.#seq, state: this.#parts.router.current.state, healthy: this.#healthVector() });
        return;
      }
      case 'sy:listening': {
        m.listening = true;
        m.addresses = message.addresses;
        this.#load.set(worker.id, message.load);
        if (this.#started) this.#log.info({ worker: m.slot, pid: worker.process.pid, generation: this.#parts.router.current.generation }, 'replacement worker listening');
        else if ([...this.#members.values()].filter((x) => x.listening).length === this.#size) this.#allListening?.();
        return;
      }
      case 'sy:failed':
        this.#log.error({ worker: m.slot, pid: worker.process.pid, err: message.message }, 'worker could not start');
        this.#startFailed?.(new Error(message.message));
        return;
      case 'sy:ack':
        this.#load.set(worker.id, message.load);
        for (const b of this.#barriers) {
          if (b.seq <= message.seq && b.waiting.delete(worker.id) && b.waiting.size === 0) b.done();
        }
        return;
      case 'sy:load':
        this.#load.set(worker.id, message.load);
        return;
      case 'sy:ejected':
        m.ejected = message.ejected;
        this.#applyEjections(message.reason);
        return;
      case 'sy:metrics':
      case 'sy:reload-certs': {
        const ask = this.#asks.get(message.id);
        if (ask === undefined || !ask.waiting.delete(worker.id)) return;
        ask.replies.push(message);
        if (ask.waiting.size === 0) ask.done();
        return;
      }
    }
  };

  readonly #onExit = (worker: Worker, code: number | null, signal: string | null): void => {
    const m = this.#members.get(worker.id);
    if (m === undefined) return;
    this.#members.delete(worker.id);
    this.#load.delete(worker.id);
    // What it had ejected, and what it was to acknowledge or answer, goes with it.
    m.ejected = [];
    this.#applyEjections(`worker ${m.slot} exited`);
    for (const b of [...this.#barriers]) if (b.waiting.delete(worker.id) && b.waiting.size === 0) b.done();
    for (const a of [...this.#asks.values()]) if (a.waiting.delete(worker.id) && a.waiting.size === 0) a.done();
    if (this.#stopping) {
      if (this.#members.size === 0) this.#allExited?.();
      return;
    }
    if (!this.#started) {
      this.#log.error({ worker: m.slot, pid: worker.process.pid, code, signal }, 'worker exited during start');
      this.#startFailed?.(new Error(`worker ${m.slot} exited during start (code ${code}, signal ${signal})`));
      return;
    }
    this.#restarts.inc();
    const young = Date.now() - m.born < YOUNG_MS;
    const deaths = young ? (this.#youngDeaths.get(m.slot) ?? 0) + 1 : 0;
    this.#youngDeaths.set(m.slot, deaths);
    const delay = deaths === 0 ? 0 : Math.min(100 * 2 ** (deaths - 1), MAX_RESTART_DELAY_MS);
    this.#log.error({ worker: m.slot, pid: worker.process.pid, code, signal, restartInMs: delay }, 'worker exited unexpectedly; replacing it');
    const timer = setTimeout(() => {
      this.#restartTimers.delete(timer);
      if (!this.#stopping) this.#fork(m.slot);
    }, delay);
    this.#restartTimers.add(timer);
  };

  #healthVector(): boolean[] {
    return serverVector(this.#parts.poolTable, (s) => s.healthy);
  }

  /** #applyEjections — a server is ejected in the primary's view while any worker ejects it. */
  #applyEjections(reason: string): void {
    const members = [...this.#members.values()];
    eachServer(this.#parts.poolTable, (s, i) => {
      const e = this.#ejections[i]!;
      const ejected = members.some((m) => m.ejected[i] === true);
      if (ejected === e.ejected) return;
      e.ejected = ejected;
      s.ejectionChanged(ejected, reason);
    });
  }

  async #workerMetrics(): Promise<RegistryJson[]> {
    const { replies, missing } = await this.#ask((id) => ({ t: 'sy:metrics', id }));
    if (missing.length > 0) this.#log.warn({ workers: missing }, 'metrics: worker(s) did not answer in time; their series are missing from this scrape');
    return replies.flatMap((r) => (r.t === 'sy:metrics' ? [r.metrics] : []));
  }

  /** #ask — send one request to every listening worker; resolves with the replies in time and the slots that did not answer. */
  #ask(make: (id: number) => ToWorker): Promise<{ replies: FromWorker[]; missing: number[] }> {
    const id = ++this.#askId;
    const targets = [...this.#members.values()].filter((m) => m.listening && m.worker.isConnected());
    return new Promise((resolve) => {
      const waiting = new Set(targets.map((m) => m.worker.id));
      const replies: FromWorker[] = [];
      const finish = (): void => {
        clearTimeout(timer);
        this.#asks.delete(id);
        resolve({ replies, missing: [...waiting].map((w) => this.#members.get(w)?.slot ?? -1) });
      };
      const timer = setTimeout(finish, ASK_TIMEOUT_MS);
      timer.unref();
      if (waiting.size === 0) {
        finish();
        return;
      }
      this.#asks.set(id, { waiting, replies, done: finish });
      const message = make(id);
      for (const m of targets) this.#send(m, message);
    });
  }

  #broadcast(message: ToWorker): void {
    for (const m of this.#members.values()) if (m.inited) this.#send(m, message);
  }

  #send(m: Member, message: ToWorker): void {
    if (m.worker.isConnected()) m.worker.send(message);
  }
}
