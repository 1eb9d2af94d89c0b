/**
 * proxy/context — the per-listener constants the hot path reads, computed
 * once when the listener is built.
 */
import type { Logger } from '../log.js';

/** ProxyContext — settings shared by every request on one listener. */
export interface ProxyContext {
  readonly kind: 'public' | 'preview';
  readonly proto: 'http' | 'https';
  /** The listener may carry HTTP/2 streams (a TLS listener with http2); only then does a request check its version. */
  readonly http2: boolean;
  readonly poolHeader: string;
  readonly trustForwarded: boolean;
  /** 1 + proxy.retries. */
  readonly maxAttempts: number;
  /** 0 = off, 1 = every request, (0,1) = sample rate. */
  readonly accessLog: number;
  readonly log: Logger;
  readonly maintenancePage: Buffer;
  readonly retryAfterSeconds: number;
}
