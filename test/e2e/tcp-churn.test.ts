/**
 * Leak test for raw TCP listeners: thousands of connect/abort cycles, the
 * client leaving at random points (right after connecting — often while the
 * proxy is still connecting upstream —, after the greeting, mid-write, or with
 * a clean half-close), some of them towards a dead server first so the retry
 * path runs too. Afterwards the process's active sockets and timers are back
 * to their baseline, the upstream holds no connection and the state API shows
 * no TCP connection and no long-lived connection.
 */
import t from 'tap';
import { resources, rng } from '../helpers/churn.js';
import { freePort } from '../helpers/http.js';
import { readLine, startTcpSwitchyard, startTcpUpstream, tcpConnect } from '../helpers/tcp.js';
import { waitFor } from '../helpers/wait.js';

const CYCLES = Number(process.env.SWITCHYARD_TCP_CHURN_CYCLES ?? 3000);
const CONCURRENCY = 32;
const BUDGET_MS = 40_000;
const PAYLOAD = Buffer.alloc(128 * 1024, 0x62);

/** cycle — one connection abandoned in `mode`; resolves once the client socket is closed. */
async function cycle(address: string, mode: number): Promise<void> {
  const c = await tcpConnect(address, { allowHalfOpen: mode === 3 });
  c.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
  if (mode === 0) c.destroy();
  else {
    try {
      await readLine(c);
      if (mode === 1) c.destroy();
      else if (mode === 2) {
        c.write(PAYLOAD);
        c.destroy();
      } else {
        c.end('bye');
        c.resume();
      }
    } catch {
      c.destroy();
    }
  }
  await closed;
}

t.test(`${CYCLES} TCP connect/abort cycles leave no socket, timer or count behind`, async (t) => {
  const up = await startTcpUpstream(t, 'blue-1', { greet: true });
  const deadPort = await freePort();
  const { sy, address } = await startTcpSwitchyard(
    t,
    { pools: { blue: { servers: [{ address: `127.0.0.1:${deadPort}`, id: 'dead' }, up], passive: { consecutiveFailures: 0 } } } },
    { blue: {}, green: {} },
    { proxy: { maxConnectionAgeMs: 60_000 } },
  );
  // One connection first, so lazily created resources exist in the baseline.
  await cycle(address, 1);
  await waitFor(() => up.sockets.size === 0, { message: 'warm-up connection gone' });
  const baseline = resources();
  const random = rng(42);
  const started = Date.now();
  let done = 0;
  const worker = async (): Promise<void> => {
    while (done < CYCLES && Date.now() - started < BUDGET_MS) {
      done++;
      await cycle(address, Math.floor(random() * 4));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  t.ok(done >= CYCLES, `${done} cycles within ${BUDGET_MS} ms`);
  await waitFor(() => up.sockets.size === 0, { message: 'upstream has no connection left', timeoutMs: 10_000 });
  await waitFor(
    () => {
      const now = resources();
      for (const key of ['TCPSocketWrap', 'TCPWRAP', 'Timeout']) if ((now.get(key) ?? 0) > (baseline.get(key) ?? 0)) return false;
      return true;
    },
    { message: `resources back to baseline (${JSON.stringify(Object.fromEntries(baseline))})`, timeoutMs: 10_000 },
  );
  const now = resources();
  t.ok((now.get('TCPSocketWrap') ?? 0) <= (baseline.get('TCPSocketWrap') ?? 0), `TCP sockets back to the baseline (${now.get('TCPSocketWrap') ?? 0} ≤ ${baseline.get('TCPSocketWrap') ?? 0})`);
  t.ok((now.get('Timeout') ?? 0) <= (baseline.get('Timeout') ?? 0), `timers back to the baseline (${now.get('Timeout') ?? 0} ≤ ${baseline.get('Timeout') ?? 0})`);
  const state = (await sy.api('GET', '/api/v1/state')).json as { tcp: { connections: number }[]; pools: Record<string, { longLived: number; status: string }> };
  t.equal(state.tcp[0]?.connections, 0, 'no TCP connection open');
  t.equal(state.pools.blue?.longLived, 0, 'no long-lived connection on blue');
  t.equal(sy.app.router.pools.find((p) => p.name === 'blue')?.longLived, 0);
});
