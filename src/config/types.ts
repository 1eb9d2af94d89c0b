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
  /** Set when the server is reached over TLS (servers[].tls: true); undefined = plain TCP. */
  readonly tls?: UpstreamTlsConfig | undefined;
}

/** UpstreamTlsConfig — how to reach one server over TLS: its CA (PEM text read at load) and SNI name. */
export interface UpstreamTlsConfig {
  /** CA bundle (PEM) to verify against; undefined = Node's bundled root CAs. */
  readonly ca: string | undefined;
  /** Absolute path the CA was read from (for messages). */
  readonly caFile: string | undefined;
  /** SNI name sent and checked against the certificate; undefined = the address's host (not sent for an IP). */
  readonly servername: string | undefined;
}

/** HttpsListenerConfig — one listen.https entry, resolved (paths absolute; files checked readable at load). */
export interface HttpsListenerConfig {
  readonly bind: HostPort;
  readonly cert: string;
  readonly key: string;
  readonly sni: readonly { readonly names: readonly string[]; readonly cert: string; readonly key: string }[];
  /** Offer h2 through ALPN (HTTP/1.1 stays available). */
  readonly http2: boolean;
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** Route to the standby pool, like listen.preview. */
  readonly preview: boolean;
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

/** TcpCheck — the optional exchange of a TCP health probe after connecting. */
export interface TcpCheck {
  /** Written after connecting (undefined: connecting is the whole check). */
  readonly send: string | undefined;
  /** The reply must contain this (undefined: any reply, or none, will do). */
  readonly expect: string | undefined;
}

/** TcpPoolConfig — one pool of a TCP listener: a PoolConfig (name = a main pool, its onSwitch/drainTimeoutMs) plus its check. */
export interface TcpPoolConfig {
  readonly pool: PoolConfig;
  readonly check: TcpCheck;
}

/** TcpListenerConfig — one listen.tcp entry, resolved. */
export interface TcpListenerConfig {
  readonly name: string;
  readonly bind: HostPort;
  readonly pools: readonly TcpPoolConfig[];
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** PROXY protocol header written to the upstream before any client byte; undefined = none. */
  readonly proxyProtocol: 'v1' | 'v2' | undefined;
}

export interface SwitchyardConfig {
  /** Absolute path of the file this config came from ('' when built in code). */
  readonly source: string;
  readonly listen: {
    readonly http: HostPort;
    readonly admin: HostPort;
    readonly preview: HostPort | undefined;
    /** Raw TCP (L4) listeners, in config order ([] when none). */
    readonly tcp: readonly TcpListenerConfig[];
    /** TLS listeners, in config order ([] when none). */
    readonly https: readonly HttpsListenerConfig[];
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
  /** Proxy worker processes (1 = single process, no cluster); "auto" is resolved to the CPU count at load. */
  readonly workers: number;
}
