/**
 * config/defaults — every default in one place (README's config reference and
 * config/reference.yaml quote these).
 */
export const DEFAULTS = Object.freeze({
  health: {
    enabled: true,
    path: '/healthz',
    intervalMs: 1000,
    timeoutMs: 500,
    rise: 2,
    fall: 2,
    expectStatus: '200-399',
  },
  passive: { consecutiveFailures: 5, baseEjectionMs: 10_000, maxEjectionMs: 300_000 },
  balance: 'round-robin' as const,
  hashKey: 'ip',
  weight: 1,
  proxy: {
    poolHeader: 'x-switchyard-pool',
    connectTimeoutMs: 5_000,
    firstByteTimeoutMs: 60_000,
    idleTimeoutMs: 60_000,
    retries: 2,
    maxConnectionsPerServer: 512,
    upstreamKeepAliveMs: 4_000,
    clientKeepAliveMs: 5_000,
    clientHeadersTimeoutMs: 30_000,
    trustForwardedHeaders: false,
    /** Upgrade protocols proxied as tunnels; any other Upgrade header is ignored (served as plain HTTP). */
    upgradeProtocols: ['websocket'] as readonly string[],
    /** An upgraded connection with no byte in either direction for this long is closed. */
    upgradeIdleTimeoutMs: 600_000,
  },
  /** listen.tcp[]: a raw TCP connection with no byte either way for this long is closed (same default as upgrades). */
  tcp: { idleTimeoutMs: 600_000 },
  onSwitch: 'keep' as const,
  drainTimeoutMs: 30_000,
  maintenance: {
    enabled: false,
    retryAfterSeconds: 120,
    page:
      '<!doctype html><html><head><meta charset="utf-8"><title>Down for maintenance</title></head>' +
      '<body><h1>Down for maintenance</h1><p>We will be back shortly.</p></body></html>\n',
  },
  log: { level: 'info', access: 'off' as const, sampleRate: 0.01 },
  shutdownTimeoutMs: 10_000,
  workers: 1,
});
