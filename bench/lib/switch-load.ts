/**
 * bench/lib/switch-load — the blue/green promise under load: a load generator
 * keeps `connections` keep-alive connections busy through Switchyard while the
 * bench flips the live pool blue↔green K times through the admin API. The
 * product's claim is that a switch loses nothing, so every non-2xx and every
 * socket error counts (the load runs with exact status counting), and the
 * switch calls are timed themselves: a switch that stalls behind the proxy's
 * event loop is a switch an operator waits for.
 *
 * The same load is also run once with no switching (the control), because
 * exact status counting slows wrk and the proxy is saturated either way:
 * only "with switches" against "without" says what switching costs.
 */
import { Client } from 'undici';
import { runLoad, type LoadGenerator, type LoadResult } from './load.js';
import { ADMIN_TOKEN } from './switchyard.js';

/** SwitchCall — one admin call as the bench saw it (status 0: the call itself failed). */
export interface SwitchCall {
  readonly to: string;
  readonly status: number;
  readonly ms: number;
  readonly changed: boolean | undefined;
  readonly generation: number | undefined;
}

/** FlipRun — one load run and the switches made during it. */
export interface FlipRun {
  readonly load: LoadResult;
  readonly calls: readonly SwitchCall[];
  /** Switches not made because the load ended first (the loop is bounded in time too). */
  readonly skipped: number;
  readonly durationS: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** AdminSwitcher — one keep-alive connection to the admin API, timing every switch call. */
export class AdminSwitcher {
  readonly #client: Client;
  #live = 'blue';

  constructor(adminUrl: string) {
    this.#client = new Client(adminUrl, { pipelining: 1 });
  }

  /** live — the pool this switcher last made live. */
  get live(): string {
    return this.#live;
  }

  /** flip — switch to the pool that is not live; wall-clock time as an operator sees it. */
  async flip(): Promise<SwitchCall> {
    const to = this.#live === 'blue' ? 'green' : 'blue';
    const started = performance.now();
    try {
      const res = await this.#client.request({
        path: '/api/v1/switch',
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', 'x-switchyard-actor': 'bench' },
        body: JSON.stringify({ to }),
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      const text = await res.body.text();
      const ms = performance.now() - started;
      if (res.statusCode === 200) this.#live = to;
      let body: { changed?: boolean; generation?: number } = {};
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        // non-JSON error body: the status says enough
      }
      return { to, status: res.statusCode, ms, changed: body.changed, generation: body.generation };
    } catch {
      // Refused, reset or timed out: reported as status 0, never retried.
      return { to, status: 0, ms: performance.now() - started, changed: undefined, generation: undefined };
    }
  }

  /** flipMany — up to `count` flips `spacingMs` apart, stopping early at `stopAt` (performance.now()). */
  async flipMany(count: number, spacingMs: number, stopAt = Number.POSITIVE_INFINITY): Promise<{ calls: SwitchCall[]; skipped: number }> {
    const calls: SwitchCall[] = [];
    for (let i = 0; i < count; i++) {
      if (performance.now() > stopAt) return { calls, skipped: count - i };
      calls.push(await this.flip());
      if (i < count - 1) await sleep(spacingMs);
    }
    return { calls, skipped: 0 };
  }

  /** restoreBlue — leave blue live, so every later run starts from the same state. */
  async restoreBlue(): Promise<void> {
    if (this.#live !== 'blue') await this.flip();
  }

  /** close — close the admin connection. */
  close(): Promise<void> {
    return this.#client.close();
  }
}

/**
 * switchRunEstimateS — expected length of the flipping load: a 1 s lead-in,
 * K flips at the spacing plus ~60 ms per call under load (measured: admin
 * calls wait behind the proxy's event loop), a 1 s tail. Used to reserve the
 * switch run's time out of the run's budget, not to end the load.
 */
export function switchRunEstimateS(switches: number, spacingMs: number): number {
  return Math.ceil(2 + (switches * (spacingMs + 60)) / 1000);
}

/** MAX_FLIP_LOAD_S — hard cap on the flipping load, whatever the admin API's pace: the run stays bounded. */
export const MAX_FLIP_LOAD_S = 60;

/** FlipSpec — the load and the flips. */
export interface FlipSpec {
  readonly proxyUrl: string;
  readonly connections: number;
  readonly switches: number;
  readonly spacingMs: number;
  /** Control (no switches): the load's length. With switches: ignored; the load ends 1 s after the last flip. */
  readonly durationS: number;
}

/**
 * runFlipLoad — GET / through `proxyUrl` with exact status counting. With
 * switches, the load runs until 1 s after the last flip (at most
 * MAX_FLIP_LOAD_S), so every one of the K flips happens under load however
 * slowly the admin API answers; without, for `durationS`.
 */
export async function runFlipLoad(gen: LoadGenerator, switcher: AdminSwitcher, spec: FlipSpec): Promise<FlipRun> {
  const flipping = spec.switches > 0;
  let release: () => void = () => undefined;
  const stopEarly = new Promise<void>((resolve) => {
    release = resolve;
  });
  const durationS = flipping ? MAX_FLIP_LOAD_S : spec.durationS;
  const loadStarted = performance.now();
  const load = runLoad(gen, { url: `${spec.proxyUrl}/`, connections: spec.connections, durationS, method: 'GET', bodyBytes: 0, exactStatus: true, headers: [] }, stopEarly);
  let flips: { calls: SwitchCall[]; skipped: number } = { calls: [], skipped: 0 };
  if (flipping) {
    await sleep(1_000); // lead-in: connections open and traffic steady before the first switch
    flips = await switcher.flipMany(spec.switches, spec.spacingMs, loadStarted + (MAX_FLIP_LOAD_S - 2) * 1000);
    await sleep(1_000); // tail: requests routed by the last switch complete under load too
    release();
  }
  const { result } = await load;
  release();
  await switcher.restoreBlue();
  return { load: result, calls: flips.calls, skipped: flips.skipped, durationS: result.durationS };
}
