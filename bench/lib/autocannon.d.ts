/**
 * Minimal types for autocannon 8 (it ships none): only the programmatic call
 * and the result fields bench/lib/autocannon-worker.ts reads.
 */
declare module 'autocannon' {
  interface AutocannonOptions {
    url: string;
    connections?: number;
    duration?: number;
    method?: string;
    body?: string | Buffer;
    headers?: Record<string, string>;
    timeout?: number;
  }
  interface Histogram {
    average: number;
    total: number;
    p50: number;
    p90: number;
    p99: number;
    max: number;
  }
  export interface AutocannonResult {
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    latency: Histogram;
    requests: Histogram;
    throughput: Histogram;
  }
  /** The running load: `stop()` ends it early and the callback then gets the result so far. */
  interface Instance {
    stop(): void;
  }
  function autocannon(opts: AutocannonOptions): Promise<AutocannonResult>;
  function autocannon(opts: AutocannonOptions, cb: (err: Error | null, result: AutocannonResult) => void): Instance;
  export default autocannon;
}
