/**
 * config/tcp — resolves `listen.tcp` (raw TCP listeners) against the main
 * pools: each TCP pool must be named after a main pool, because a TCP
 * listener has no switch of its own — it follows the routing snapshot's
 * weights and inherits that pool's `onSwitch` and `drainTimeoutMs`, so one
 * `POST /api/v1/switch` moves HTTP and TCP traffic together. A server's
 * upstream TLS keys (tls/ca/servername) go through config/https.ts's
 * resolveUpstreamTls, the same code as HTTP pool servers.
 */
import { DEFAULTS } from './defaults.js';
import { resolveUpstreamTls } from './https.js';
import type { ConfigIssue } from './load.js';
import type { TcpListenerInput } from './schema.js';
import type { HealthConfig, HostPort, PassiveConfig, PoolConfig, ServerConfig, TcpListenerConfig, TcpPoolConfig } from './types.js';

/** TcpResolveContext — what the TCP part needs of the already-resolved main config. */
export interface TcpResolveContext {
  readonly pools: readonly PoolConfig[];
  readonly health: HealthConfig;
  readonly passive: PassiveConfig;
  readonly connectTimeoutMs: number;
  readonly parseHostPort: (value: string) => HostPort | undefined;
  /** Directory relative `ca` files are resolved against (the config file's). */
  readonly baseDir: string;
}

/** resolveTcpListeners — every listen.tcp entry resolved; problems are pushed to `issues` with their key paths. */
export function resolveTcpListeners(input: readonly TcpListenerInput[] | undefined, ctx: TcpResolveContext, issues: ConfigIssue[]): TcpListenerConfig[] {
  if (input === undefined) return [];
  const names = new Set<string>();
  const mainNames = ctx.pools.map((p) => p.name);
  return input.map((l, li) => {
    const at = `listen.tcp[${li}]`;
    if (names.has(l.name)) issues.push({ path: `${at}.name`, message: `duplicate TCP listener name "${l.name}"` });
    names.add(l.name);
    const pools: TcpPoolConfig[] = [];
    for (const [name, p] of Object.entries(l.pools)) {
      const main = ctx.pools.find((m) => m.name === name);
      if (main === undefined) {
        issues.push({ path: `${at}.pools.${name}`, message: `unknown pool "${name}" (TCP pools follow the main pools: ${mainNames.join(', ')})` });
        continue;
      }
      const h = p.health;
      // Health timing inherits the top-level `health` (the HTTP-only keys are unused by the TCP probe).
      const health: HealthConfig = {
        ...ctx.health,
        enabled: h?.enabled ?? ctx.health.enabled,
        intervalMs: h?.intervalMs ?? ctx.health.intervalMs,
        timeoutMs: h?.timeoutMs ?? ctx.health.timeoutMs,
        rise: h?.rise ?? ctx.health.rise,
        fall: h?.fall ?? ctx.health.fall,
      };
      if (health.enabled && health.timeoutMs > health.intervalMs) issues.push({ path: `${at}.pools.${name}.health.timeoutMs`, message: 'must not exceed intervalMs' });
      const ids = new Set<string>();
      const servers: ServerConfig[] = p.servers.map((s, i) => {
        const hp = ctx.parseHostPort(s.address) as HostPort;
        const id = s.id ?? s.address;
        if (ids.has(id)) issues.push({ path: `${at}.pools.${name}.servers[${i}]`, message: `duplicate server id "${id}" in TCP pool ${name}` });
        ids.add(id);
        const tls = resolveUpstreamTls(s, ctx.baseDir, `${at}.pools.${name}.servers[${i}]`, issues);
        return { id, address: s.address, host: hp.host, port: hp.port, weight: s.weight ?? DEFAULTS.weight, maxInflight: Infinity, health, tls };
      });
      const passive: PassiveConfig = {
        consecutiveFailures: p.passive?.consecutiveFailures ?? ctx.passive.consecutiveFailures,
        baseEjectionMs: p.passive?.baseEjectionMs ?? ctx.passive.baseEjectionMs,
        maxEjectionMs: p.passive?.maxEjectionMs ?? ctx.passive.maxEjectionMs,
      };
      if (passive.maxEjectionMs < passive.baseEjectionMs) issues.push({ path: `${at}.pools.${name}.passive.maxEjectionMs`, message: 'must be >= baseEjectionMs' });
      pools.push({
        pool: {
          name,
          balance: p.balance ?? DEFAULTS.balance,
          // A byte stream has no headers or cookies: `hash` always hashes the client address.
          hashKey: { kind: 'ip' },
          servers,
          passive,
          capacityRps: undefined,
          onSwitch: main.onSwitch,
          drainTimeoutMs: main.drainTimeoutMs,
        },
        check: { send: h?.send, expect: h?.expect },
      });
    }
    return {
      name: l.name,
      bind: ctx.parseHostPort(l.address) as HostPort,
      pools,
      connectTimeoutMs: l.connectTimeoutMs ?? ctx.connectTimeoutMs,
      idleTimeoutMs: l.idleTimeoutMs ?? DEFAULTS.tcp.idleTimeoutMs,
      proxyProtocol: l.proxyProtocol,
    };
  });
}
