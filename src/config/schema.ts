/**
 * config/schema — the one JSON Schema of switchyard.yaml (TypeBox), from which
 * the input types are derived. Unknown keys are errors everywhere
 * (additionalProperties: false) so a typo never passes silently. Defaults live
 * in config/defaults.ts and are applied by config/load.ts.
 */
import { Type, type Static, type TUnsafe } from '@sinclair/typebox';

/** StringEnum — a string limited to a list (one clear ajv error instead of an anyOf cascade). */
function StringEnum<const T extends readonly string[]>(values: T): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values] });
}

const HostPort = Type.String({ format: 'hostport' });
const PositiveMs = Type.Integer({ minimum: 1, maximum: 86_400_000 });
const PoolName = '^[A-Za-z][A-Za-z0-9_-]{0,62}$';
/** An Upgrade protocol (RFC 9110 §7.8): a token, optionally "/" and a version token. */
const UpgradeProtocol = "^[A-Za-z0-9!#$%&'*+.^_`|~-]+(/[A-Za-z0-9!#$%&'*+.^_`|~-]+)?$";

export const HealthSchema = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean()),
    path: Type.Optional(Type.String({ pattern: '^/' })),
    intervalMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 3_600_000 })),
    timeoutMs: Type.Optional(PositiveMs),
    rise: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    fall: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    expectStatus: Type.Optional(Type.String({ format: 'statusranges' })),
    host: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

export const PassiveSchema = Type.Object(
  {
    consecutiveFailures: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
    baseEjectionMs: Type.Optional(PositiveMs),
    maxEjectionMs: Type.Optional(PositiveMs),
  },
  { additionalProperties: false },
);

/** A DNS name as used in SNI; `*.` allowed as the first label only where the caller says so. */
const TlsHostName = '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$';
const SniName = '^(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$';

/** HttpsListenerSchema — one TLS listener under listen.https (src/app.ts builds it, src/tls/ holds its certificates). */
export const HttpsListenerSchema = Type.Object(
  {
    address: HostPort,
    cert: Type.String({ minLength: 1 }),
    key: Type.String({ minLength: 1 }),
    sni: Type.Optional(
      Type.Array(
        Type.Object(
          {
            names: Type.Array(Type.String({ pattern: SniName, maxLength: 253 }), { minItems: 1, uniqueItems: true }),
            cert: Type.String({ minLength: 1 }),
            key: Type.String({ minLength: 1 }),
          },
          { additionalProperties: false },
        ),
        { maxItems: 1000 },
      ),
    ),
    http2: Type.Optional(Type.Boolean()),
    minVersion: Type.Optional(StringEnum(['TLSv1.2', 'TLSv1.3'] as const)),
    preview: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

/** UpstreamTlsKeys — a server's upstream TLS keys, shared by HTTP pool servers and TCP listener servers (config/https.ts resolves both). */
const UpstreamTlsKeys = {
  /** Connect to this server over TLS (certificate verified against `ca`, else the system roots). */
  tls: Type.Optional(Type.Boolean()),
  /** CA bundle file (PEM) that signs the server's certificate; only with tls: true. */
  ca: Type.Optional(Type.String({ minLength: 1 })),
  /** SNI name sent and verified instead of the address's host; only with tls: true. */
  servername: Type.Optional(Type.String({ pattern: TlsHostName })),
};

export const ServerSchema = Type.Object(
  {
    address: HostPort,
    id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$' })),
    weight: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
    maxInflight: Type.Optional(Type.Integer({ minimum: 1 })),
    health: Type.Optional(HealthSchema),
    ...UpstreamTlsKeys,
  },
  { additionalProperties: false },
);

export const PoolSchema = Type.Object(
  {
    balance: Type.Optional(
      StringEnum(['round-robin', 'least-conn', 'p2c', 'hash'] as const),
    ),
    hashKey: Type.Optional(Type.String({ format: 'hashkey' })),
    servers: Type.Array(ServerSchema, { minItems: 1 }),
    health: Type.Optional(HealthSchema),
    passive: Type.Optional(PassiveSchema),
    /** Requests/s this pool can carry alone; used for the capacity warning. */
    capacityRps: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    /** What happens to this pool's long-lived (upgraded) connections when it leaves the live set. */
    onSwitch: Type.Optional(StringEnum(['keep', 'drain'] as const)),
    /** How long this pool drains after leaving the live set (default: drain.timeoutMs). */
    drainTimeoutMs: Type.Optional(PositiveMs),
  },
  { additionalProperties: false },
);

/** TcpHealthSchema — active check of a TCP listener's servers: connect, optionally send `send` and expect a reply containing `expect`. */
export const TcpHealthSchema = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean()),
    intervalMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 3_600_000 })),
    timeoutMs: Type.Optional(PositiveMs),
    rise: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    fall: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    send: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    expect: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  },
  { additionalProperties: false },
);

/** TcpPoolSchema — one pool of a TCP listener; its name is a pool of the main config (it follows that pool's weight). */
export const TcpPoolSchema = Type.Object(
  {
    servers: Type.Array(
      Type.Object(
        {
          address: HostPort,
          id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$' })),
          weight: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
          ...UpstreamTlsKeys,
        },
        { additionalProperties: false },
      ),
      { minItems: 1 },
    ),
    // p2c and header/cookie hashing need requests; a byte stream only has the client address.
    balance: Type.Optional(StringEnum(['round-robin', 'least-conn', 'hash'] as const)),
    health: Type.Optional(TcpHealthSchema),
    passive: Type.Optional(PassiveSchema),
  },
  { additionalProperties: false },
);

/** TcpListenerSchema — one raw TCP (L4) listener under listen.tcp. */
export const TcpListenerSchema = Type.Object(
  {
    name: Type.String({ pattern: PoolName }),
    address: HostPort,
    pools: Type.Record(Type.String(), TcpPoolSchema, { minProperties: 1, propertyNames: { pattern: PoolName } }),
    connectTimeoutMs: Type.Optional(PositiveMs),
    idleTimeoutMs: Type.Optional(PositiveMs),
    proxyProtocol: Type.Optional(StringEnum(['v1', 'v2'] as const)),
  },
  { additionalProperties: false },
);

export const ConfigSchema = Type.Object(
  {
    listen: Type.Object(
      {
        http: HostPort,
        admin: HostPort,
        preview: Type.Optional(HostPort),
        /** Raw TCP (L4) listeners sharing the admin API's switch (src/tcp/). */
        tcp: Type.Optional(Type.Array(TcpListenerSchema, { maxItems: 64 })),
        /** TLS listeners (HTTPS, and HTTP/2 via ALPN). */
        https: Type.Optional(Type.Array(HttpsListenerSchema, { maxItems: 64 })),
      },
      { additionalProperties: false },
    ),
    admin: Type.Optional(
      Type.Object(
        {
          token: Type.Optional(Type.String({ minLength: 1 })),
          openMetrics: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    state: Type.Optional(
      Type.Object({ file: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
    ),
    live: Type.String({ pattern: PoolName }),
    // The name rule goes in propertyNames: a Record keyed by a patterned string
    // only validates matching keys, so `1st: {}` would skip every check.
    pools: Type.Record(Type.String(), PoolSchema, {
      minProperties: 1,
      propertyNames: { pattern: PoolName },
    }),
    health: Type.Optional(HealthSchema),
    passive: Type.Optional(PassiveSchema),
    proxy: Type.Optional(
      Type.Object(
        {
          poolHeader: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]*$' })),
          connectTimeoutMs: Type.Optional(PositiveMs),
          firstByteTimeoutMs: Type.Optional(PositiveMs),
          idleTimeoutMs: Type.Optional(PositiveMs),
          retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
          maxConnectionsPerServer: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
          upstreamKeepAliveMs: Type.Optional(PositiveMs),
          clientKeepAliveMs: Type.Optional(PositiveMs),
          clientHeadersTimeoutMs: Type.Optional(PositiveMs),
          trustForwardedHeaders: Type.Optional(Type.Boolean()),
          upgradeProtocols: Type.Optional(
            Type.Array(Type.String({ pattern: UpgradeProtocol, maxLength: 64 }), { uniqueItems: true, maxItems: 32 }),
          ),
          upgradeIdleTimeoutMs: Type.Optional(PositiveMs),
          maxConnectionAgeMs: Type.Optional(PositiveMs),
        },
        { additionalProperties: false },
      ),
    ),
    drain: Type.Optional(
      Type.Object({ timeoutMs: Type.Optional(PositiveMs) }, { additionalProperties: false }),
    ),
    maintenance: Type.Optional(
      Type.Object(
        {
          enabled: Type.Optional(Type.Boolean()),
          page: Type.Optional(Type.String({ minLength: 1 })),
          retryAfterSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400 })),
        },
        { additionalProperties: false },
      ),
    ),
    log: Type.Optional(
      Type.Object(
        {
          level: Type.Optional(
            StringEnum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
          ),
          access: Type.Optional(StringEnum(['off', 'on', 'sampled'] as const)),
          sampleRate: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    shutdown: Type.Optional(
      Type.Object({ timeoutMs: Type.Optional(PositiveMs) }, { additionalProperties: false }),
    ),
    /** Proxy worker processes: 1 (default, one process), N, or "auto" (one per CPU). */
    workers: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1, maximum: 256 }), Type.Literal('auto')], { description: 'an integer from 1 to 256, or "auto"' }),
    ),
  },
  { additionalProperties: false },
);

/** ConfigInput — the config as written in YAML (optional keys still optional). */
export type ConfigInput = Static<typeof ConfigSchema>;
export type HealthInput = Static<typeof HealthSchema>;
export type PassiveInput = Static<typeof PassiveSchema>;
export type PoolInput = Static<typeof PoolSchema>;
/** TcpListenerInput — one listen.tcp entry as written in YAML. */
export type TcpListenerInput = Static<typeof TcpListenerSchema>;
export type ServerInput = Static<typeof ServerSchema>;
/** UpstreamTlsInput — the upstream TLS keys of any server entry (HTTP pool or TCP listener). */
export type UpstreamTlsInput = Pick<ServerInput, 'tls' | 'ca' | 'servername'>;
