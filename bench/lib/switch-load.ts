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

/** switchLoadDuration — room for K switches at the spacing plus ~50 ms per call, a 1 s lead-in and a tail. */
export function switchLoadDuration(switches: number, spacingMs: number, minDurationS: number): number {
  return Math.max(minDurationS, Math.ceil(2.5 + (switches * (spacingMs + 50)) / 1000));
}

/** runFlipLoad — GET / through `proxyUrl` for `durationS` with exact status counting, flipping `switches` times meanwhile. */
export async function runFlipLoad(
  gen: LoadGenerator,
  switcher: AdminSwitcher,
  spec: { readonly proxyUrl: string; readonly connections: number; readonly switches: number; readonly spacingMs: number; readonly durationS: number },
): Promise<FlipRun> {
  const load = runLoad(gen, { url: `${spec.proxyUrl}/`, connections: spec.connections, durationS: spec.durationS, method: 'GET', bodyBytes: 0, exactStatus: true });
  let flips: { calls: SwitchCall[]; skipped: number } = { calls: [], skipped: 0 };
  if (spec.switches > 0) {
    await sleep(1_000); // lead-in: connections open and traffic steady before the first switch
    flips = await switcher.flipMany(spec.switches, spec.spacingMs, performance.now() + (spec.durationS - 2) * 1000);
  }
  const { result } = await load;
  await switcher.restoreBlue();
  return { load: result, calls: flips.calls, skipped: flips.skipped, durationS: spec.durationS };
}
