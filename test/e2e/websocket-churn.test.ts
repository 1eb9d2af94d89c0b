/**
 * Leak test: thousands of WebSocket connect/abort cycles through Switchyard,
 * the client destroying its socket at random points (before the 101, right
 * after it, mid-message, after an echo, or a clean close). Afterwards every
 * socket and timer is gone: the process's active TCP sockets and timers are
 * back to their baseline, the upstream holds no connection, and the state
 * API shows nothing in flight and no long-lived connection.
 *
 * Everything runs in this process (client, proxy, upstream), so
 * process.getActiveResourcesInfo() sees all three sides. Health checks are
 * off so that no probe socket or timer moves the baseline; maxConnectionAgeMs
 * is set so that every tunnel arms (and must clear) an age timer.
 */
import t from 'tap';
import { WebSocket } from 'ws';
import { startSwitchyard } from '../helpers/app.js';
import { resources, rng } from '../helpers/churn.js';
import { getState } from '../helpers/observe.js';
import { waitFor } from '../helpers/wait.js';
import { startWsUpstream, wsUrl } from '../helpers/ws.js';

const CYCLES = Number(process.env.SWITCHYARD_CHURN_CYCLES ?? 10_000);
const CONCURRENCY = 64;
/** A bound on the whole churn so a regression fails instead of hanging (10,000 cycles: ~14 s alone, ~25 s beside the rest of the suite, on a 2-core box). */
const BUDGET_MS = 60_000;
const MESSAGE = Buffer.alloc(256 * 1024, 0x61);

type Outcome = 'never-upgraded' | 'after-101' | 'mid-message' | 'after-echo' | 'clean-close';

/** cycle — one connection, abandoned by the client in mode `mode`; resolves once its socket is closed. */
function cycle(base: string, mode: number, jitter: number): Promise<Outcome> {
  return new Promise((resolve) => {
    // Mode 1 asks the upstream to hold the 101 for 3 ms and leaves within 0–3 ms: mostly mid-handshake at the proxy.
    const ws = new WebSocket(mode === 1 ? `${base}?delay=3` : base, { handshakeTimeout: 10_000 });
    let outcome: Outcome = 'never-upgraded';
    ws.on('error', () => undefined);
    ws.on('close', () => resolve(outcome));
    if (mode === 0) {
      ws.terminate();
      return;
    }
    if (mode === 1) {
      setTimeout(() => ws.terminate(), Math.floor(jitter * 4));
      return;
    }
    ws.on('upgrade', () => {
      outcome = 'after-101';
      if (mode === 2) setImmediate(() => ws.terminate());
    });
    ws.on('open', () => {
      if (mode === 3) {
        outcome = 'mid-message';
        ws.send(MESSAGE);
        ws.terminate();
      } else if (mode === 4) {
        ws.once('message', () => {
          outcome = 'after-echo';
          ws.terminate();
        });
        ws.send('ping');
      } else if (mode === 5) {
        outcome = 'clean-close';
        ws.close(1000);
      }
    });
  });
}

t.test(`${CYCLES} WebSocket connect/abort cycles leave no socket, timer or count behind`, async (t) => {
  const blue = await startWsUpstream('blue-1');
  t.teardown(() => blue.close());
  const sy = await startSwitchyard(t, { blue: { servers: [blue.address] } }, { health: { enabled: false }, proxy: { maxConnectionAgeMs: 600_000 } });
  const base = wsUrl(sy.url, '/churn');

  // Warm up (first undici Pool, JIT), then let every socket of the warm-up close before the baseline.
  for (let i = 0; i < 20; i++) await cycle(base, 4, 0);
  await waitFor(() => blue.openSockets() === 0, { message: 'warm-up sockets closed' });
  const baseline = resources();

  const random = rng(0x5eed);
  const outcomes = new Map<Outcome, number>();
  let started = 0;
  const t0 = performance.now();
  const deadline = t0 + BUDGET_MS;
  const worker = async (): Promise<void> => {
    while (started < CYCLES && performance.now() < deadline) {
      started++;
      const outcome = await cycle(base, Math.floor(random() * 6), random());
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const churnMs = performance.now() - t0;
  t.comment(`${started} cycles in ${Math.round(churnMs)} ms (${Math.round(started / (churnMs / 1000))}/s): ${JSON.stringify(Object.fromEntries(outcomes))}`);
  t.equal(started, CYCLES, `all ${CYCLES} cycles ran within ${BUDGET_MS / 1000} s`);
  for (const o of ['never-upgraded', 'after-101', 'mid-message', 'after-echo', 'clean-close'] as const) {
    t.ok((outcomes.get(o) ?? 0) > 0, `some cycles ended ${o}`);
  }

  // The proxy's last sockets close asynchronously after the clients': poll with a deadline.
  await waitFor(
    async () => {
      const s = await getState(sy);
      const pool = s.pools.blue as unknown as { inflight: number; longLived: number };
      return pool.inflight === 0 && pool.longLived === 0 && blue.openSockets() === 0 && blue.wss.clients.size === 0;
    },
    { timeoutMs: 15_000, intervalMs: 50, message: 'no request in flight, no long-lived connection, no upstream socket' },
  ).catch(async (err: Error) => {
    const s = await getState(sy);
    throw new Error(`${err.message}\nstate: ${JSON.stringify(s.pools.blue)}\nupstream sockets ${blue.openSockets()}, ws clients ${blue.wss.clients.size}`);
  });
  let now = resources();
  await waitFor(
    () => {
      now = resources();
      return (now.get('TCPSocketWrap') ?? 0) <= (baseline.get('TCPSocketWrap') ?? 0) && (now.get('Timeout') ?? 0) <= (baseline.get('Timeout') ?? 0);
    },
    { timeoutMs: 15_000, intervalMs: 50, message: 'active sockets and timers back to the baseline' },
  ).catch((err: Error) => {
    throw new Error(`${err.message}\nbaseline: ${JSON.stringify(Object.fromEntries(baseline))}\nnow: ${JSON.stringify(Object.fromEntries(now))}`);
  });
  t.ok((now.get('TCPSocketWrap') ?? 0) <= (baseline.get('TCPSocketWrap') ?? 0), `TCP sockets back to the baseline (${now.get('TCPSocketWrap') ?? 0} ≤ ${baseline.get('TCPSocketWrap') ?? 0})`);
  t.ok((now.get('Timeout') ?? 0) <= (baseline.get('Timeout') ?? 0), `timers back to the baseline (${now.get('Timeout') ?? 0} ≤ ${baseline.get('Timeout') ?? 0})`);
  t.match(await getState(sy), { pools: { blue: { inflight: 0, longLived: 0, status: 'live' } } }, 'state shows nothing open');
});
