/**
 * cluster/load — the draining counts across processes. A worker reads its
 * pools' counts into a flat LoadReport; the primary keeps the latest report
 * of each worker and writes the sums into its own pools (ServerPool#setLoad),
 * so the state view, `"wait":"drained"` and the DrainTracker see the whole
 * cluster through the same objects as a single process.
 */
import type { ServerPool } from '../pools/pool.js';
import type { UpstreamServer } from '../pools/server.js';
import type { TcpPool } from '../tcp/pool.js';
import type { LoadReport } from './protocol.js';

/** readLoad — this worker's counts now. */
export function readLoad(poolTable: readonly ServerPool[], tcpPools: readonly TcpPool[], rps: number): LoadReport {
  const counts: number[] = [];
  for (const p of poolTable) {
    counts.push(p.inflight, p.longLived);
    for (const s of p.servers) counts.push(s.inflight, s.longLived);
  }
  const tcpBytes: number[] = [];
  for (const p of tcpPools) tcpBytes.push(p.bytesIn, p.bytesOut);
  return { counts, tcpBytes, rps };
}

/** sameLoad — true when two reports carry the same numbers (rps compared rounded: it moves on every request). */
export function sameLoad(a: LoadReport | undefined, b: LoadReport): boolean {
  if (a === undefined || Math.round(a.rps) !== Math.round(b.rps)) return false;
  return sameNumbers(a.counts, b.counts) && sameNumbers(a.tcpBytes, b.tcpBytes);
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** LoadSum — the primary's view: latest report per worker, summed into its pools. */
export class LoadSum {
  readonly #poolTable: readonly ServerPool[];
  readonly #tcpPools: readonly TcpPool[];
  readonly #reports = new Map<number, LoadReport>();

  constructor(poolTable: readonly ServerPool[], tcpPools: readonly TcpPool[]) {
    this.#poolTable = poolTable;
    this.#tcpPools = tcpPools;
  }

  /** set — worker `id` reported; the pools show the new sums at once. */
  set(id: number, report: LoadReport): void {
    this.#reports.set(id, report);
    this.#apply();
  }

  /** delete — worker `id` is gone: what it had in flight is gone with it. */
  delete(id: number): void {
    if (this.#reports.delete(id)) this.#apply();
  }

  /** requestRate — public requests per second over every worker. */
  get requestRate(): number {
    let rps = 0;
    for (const r of this.#reports.values()) rps += r.rps;
    return rps;
  }

  #apply(): void {
    const width = this.#poolTable.reduce((n, p) => n + 2 + 2 * p.servers.length, 0);
    const sums = new Array<number>(width).fill(0);
    const bytes = new Array<number>(2 * this.#tcpPools.length).fill(0);
    for (const r of this.#reports.values()) {
      // A report of another shape cannot come from a worker built from the same config; ignore it rather than misattribute.
      if (r.counts.length !== width || r.tcpBytes.length !== bytes.length) continue;
      for (let i = 0; i < width; i++) sums[i]! += r.counts[i]!;
      for (let i = 0; i < bytes.length; i++) bytes[i]! += r.tcpBytes[i]!;
    }
    let i = 0;
    // Servers first, then the pool: setLoad may wake idle waiters, who should see consistent server counts.
    for (const p of this.#poolTable) {
      const inflight = sums[i++]!;
      const longLived = sums[i++]!;
      for (const s of p.servers) {
        s.inflight = sums[i++]!;
        s.longLived = sums[i++]!;
      }
      p.setLoad(inflight, longLived);
    }
    this.#tcpPools.forEach((p, k) => {
      p.bytesIn = bytes[2 * k]!;
      p.bytesOut = bytes[2 * k + 1]!;
    });
  }
}

/** serverVector — one boolean per server of the pool table, flat, in table order. */
export function serverVector(poolTable: readonly ServerPool[], read: (s: UpstreamServer) => boolean): boolean[] {
  const out: boolean[] = [];
  for (const p of poolTable) for (const s of p.servers) out.push(read(s));
  return out;
}

/** eachServer — visit the pool table's servers with their flat index. */
export function eachServer(poolTable: readonly ServerPool[], visit: (s: UpstreamServer, index: number) => void): void {
  let i = 0;
  for (const p of poolTable) for (const s of p.servers) visit(s, i++);
}
