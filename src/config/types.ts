/**
 * config/types — the resolved configuration: every default applied, every path
 * absolute, deep-frozen. Runtime code only ever sees these types.
 */
export type BalanceAlgorithm = 'round-robin' | 'least-conn' | 'p2c' | 'hash';
export type AccessLogMode = 'off' | 'on' | 'sampled';
/** OnSwitchPolicy — what a pool leaving the live set does with its long-lived connections. */
export type OnSwitchPolicy = 'keep' | 'drain';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface StatusRange {
  readonly min: number;
  readonly max: number;
}

export interface HealthConfig {
  readonly enabled: boolean;
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly rise: number;
  readonly fall: number;
  readonly expectStatus: readonly StatusRange[];
  readonly host: string | undefined;
}

export interface PassiveConfig {
  /** 0 disables passive ejection. */
  readonly consecutiveFailures: number;
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
}

/** HashKey — where the hash balancer reads its key from. */
export type HashKey =
  | { readonly kind: 'ip' }
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string };

export interface ServerConfig {
  /** Stable id used by the admin API; defaults to the address. */
  readonly id: string;
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  /** Maximum concurrent requests; Infinity when unlimited. */
  readonly maxInflight: number;
  readonly health: HealthConfig;
}

export interface PoolConfig {
  readonly name: string;
  readonly balance: BalanceAlgorithm;
  readonly hashKey: HashKey;
  readonly servers: readonly ServerConfig[];
  readonly passive: PassiveConfig;
  readonly capacityRps: number | undefined;
  /** keep: upgraded connections stay until they end; drain: closed drainTimeoutMs after the pool leaves the live set. */
  readonly onSwitch: OnSwitchPolicy;
  /** Drain deadline of this pool (pools.NAME.drainTimeoutMs, else drain.timeoutMs). */
  readonly drainTimeoutMs: number;
}

export interface ProxyConfig {
  /** Header naming the pool on upstream requests; '' disables it. */
  readonly poolHeader: string;
  readonly connectTimeoutMs: number;
  readonly firstByteTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly retries: number;
  readonly maxConnectionsPerServer: number;
  readonly upstreamKeepAliveMs: number;
  readonly clientKeepAliveMs: number;
  readonly clientHeadersTimeoutMs: number;
  readonly trustForwardedHeaders: boolean;
  /** Lowercase Upgrade protocols proxied as tunnels ("websocket"; "name/version" matches that version only). */
  readonly upgradeProtocols: readonly string[];
  /** Close an upgraded connection after this long without a byte either way. */
  readonly upgradeIdleTimeoutMs: number;
  /** Close any upgraded connection older than this; undefined = no limit. */
  readonly maxConnectionAgeMs: number | undefined;
}

export interface SwitchyardConfig {
  /** Absolute path of the file this config came from ('' when built in code). */
  readonly source: string;
  readonly listen: {
    readonly http: HostPort;
    readonly admin: HostPort;
    readonly preview: HostPort | undefined;
  };
  readonly admin: { readonly token: string | undefined; readonly openMetrics: boolean };
  readonly state: { readonly file: string | undefined };
  readonly live: string;
  /** Pools in config order. */
  readonly pools: readonly PoolConfig[];
  readonly proxy: ProxyConfig;
  readonly drain: { readonly timeoutMs: number };
  readonly maintenance: {
    readonly enabled: boolean;
    readonly page: string;
    readonly retryAfterSeconds: number;
  };
  readonly log: { readonly level: string; readonly access: AccessLogMode; readonly sampleRate: number };
  readonly shutdown: { readonly timeoutMs: number };
}
