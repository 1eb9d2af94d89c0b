/**
 * health/types — the narrow interface health checking sees of a server
 * (like Traefik's StatusSetter): where to probe, how, and where to report.
 */
import type { HealthConfig, PassiveConfig, UpstreamTlsConfig } from '../config/types.js';

/** HealthTarget — one server as seen by the active checker. */
export interface HealthTarget {
  readonly pool: string;
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly health: HealthConfig;
  /** Probe over https with these settings; undefined = plain http. */
  readonly tls?: UpstreamTlsConfig | undefined;
  /** Called only when the rise/fall state machine flips (or on the first probe's verdict). */
  setHealthy(healthy: boolean, reason: string): void;
}

export type { HealthConfig, PassiveConfig };
