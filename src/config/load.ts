/**
 * config/load — YAML text → parse → validate (every error, with its key path)
 * → semantic checks → resolve defaults → deep-freeze.
 *
 * Nothing here throws a raw error at the caller: every problem becomes a
 * ConfigError listing all the issues found, so `switchyard validate` can print
 * them all and exit 2.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parseDocument } from 'yaml';
import { DEFAULTS } from './defaults.js';
import { resolveTcpListeners } from './tcp.js';
import { resolveHttpsListeners, resolveUpstreamTls } from './https.js';
import { ConfigSchema, type ConfigInput, type HealthInput, type PassiveInput } from './schema.js';
import type {
  HashKey,
  HealthConfig,
  HostPort,
  PassiveConfig,
  PoolConfig,
  ServerConfig,
  StatusRange,
  SwitchyardConfig,
} from './types.js';

/** ConfigIssue — one problem: the key path (`pools.green.servers[1].address`) and what is wrong. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

/** ConfigError — the config was refused; `issues` lists every problem found. */
export class ConfigError extends Error {
  readonly code = 'SY_ERR_CONFIG';
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

const HOSTPORT_RE = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

/** parseHostPort — `127.0.0.1:8080`, `[::1]:8080`, `localhost:80` → {host, port}; undefined if invalid. */
export function parseHostPort(value: string): HostPort | undefined {
  const m = HOSTPORT_RE.exec(value);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  return { host: (m[1] ?? m[2]) as string, port };
}

/** parseStatusRanges — `200-399,404` → ranges; undefined if invalid. */
export function parseStatusRanges(value: string): StatusRange[] | undefined {
  const ranges: StatusRange[] = [];
  for (const part of value.split(',')) {
    const m = /^\s*(\d{3})(?:\s*-\s*(\d{3}))?\s*$/.exec(part);
    if (!m) return undefined;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : Number(m[2]);
    if (min < 100 || max > 599 || min > max) return undefined;
    ranges.push({ min, max });
  }
  return ranges;
}

/** parseHashKey — `ip`, `header:X-User`, `cookie:session` → HashKey; undefined if invalid. */
export function parseHashKey(value: string): HashKey | undefined {
  if (value === 'ip') return { kind: 'ip' };
  const m = /^(header|cookie):([A-Za-z0-9!#$%&'*+.^_`|~-]+)$/.exec(value);
  if (!m) return undefined;
  const name = m[2] as string;
  return m[1] === 'header' ? { kind: 'header', name: name.toLowerCase() } : { kind: 'cookie', name };
}

// verbose: an anyOf error then carries its schema, whose description is the one message for that key.
const ajv = new Ajv({ allErrors: true, strict: true, useDefaults: false, verbose: true });
ajv.addFormat('hostport', { type: 'string', validate: (v: string) => parseHostPort(v) !== undefined });
ajv.addFormat('statusranges', { type: 'string', validate: (v: string) => parseStatusRanges(v) !== undefined });
ajv.addFormat('hashkey', { type: 'string', validate: (v: string) => parseHashKey(v) !== undefined });
const validateSchema = ajv.compile<ConfigInput>(ConfigSchema);

const FORMAT_MESSAGES: Record<string, string> = {
  hostport: 'expected host:port',
  statusranges: 'expected status codes or ranges such as "200-399" or "200,204"',
  hashkey: 'expected ip, header:NAME or cookie:NAME',
};

/** keyPath — ajv's `/pools/green/servers/1/address` → `pools.green.servers[1].address`. */
function keyPath(instancePath: string, extra?: string): string {
  let out = '';
  const parts = instancePath === '' ? [] : instancePath.slice(1).split('/');
  if (extra !== undefined) parts.push(extra);
  for (const raw of parts) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out;
}

function issueFromAjv(e: ErrorObject): ConfigIssue | undefined {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return { path: keyPath(e.instancePath, String(p.additionalProperty)), message: 'unknown key' };
    case 'required':
      return { path: keyPath(e.instancePath, String(p.missingProperty)), message: 'is required' };
    case 'format':
      return { path: keyPath(e.instancePath), message: FORMAT_MESSAGES[String(p.format)] ?? String(e.message) };
    case 'enum':
      return {
        path: keyPath(e.instancePath),
        message: `expected one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      };
    case 'pattern':
      if (e.propertyName !== undefined) {
        return { path: keyPath(e.instancePath, e.propertyName), message: 'invalid name (letters, digits, _ and -, starting with a letter)' };
      }
      return { path: keyPath(e.instancePath), message: `does not match ${String(p.pattern)}` };
    case 'propertyNames':
      return undefined; // reported by the nested 'pattern' error
    case 'anyOf': {
      const description = (e.parentSchema as { description?: unknown } | undefined)?.description;
      return { path: keyPath(e.instancePath), message: typeof description === 'string' ? `expected ${description}` : 'matches none of the allowed forms' };
    }
    default:
      return { path: keyPath(e.instancePath), message: String(e.message) };
  }
}

/** loadConfigFile — read and resolve a config file; throws ConfigError on any problem. */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): SwitchyardConfig {
  const source = resolve(file);
  let text: string;
  try {
    text = readFileSync(source, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '', message: `cannot read ${source}: ${(err as Error).message}` }]);
  }
  return parseConfigText(text, source, env);
}

/** parseConfigText — YAML text to a resolved config; `source` anchors relative paths. */
export function parseConfigText(text: string, source: string, env: NodeJS.ProcessEnv = process.env): SwitchyardConfig {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => ({ path: '', message: `YAML: ${e.message.split('\n')[0]}` })));
  }
  const data: unknown = doc.toJS();
  return resolveConfig(data, source, env);
}

/** resolveConfig — validate plain data (already parsed) and resolve it. */
export function resolveConfig(data: unknown, source: string, env: NodeJS.ProcessEnv = process.env): SwitchyardConfig {
  if (!validateSchema(data)) {
    const errors = validateSchema.errors ?? [];
    // The errors of each alternative of an anyOf are noise next to the anyOf's own message.
    const unions = errors.filter((e) => e.keyword === 'anyOf').map((e) => `${e.schemaPath}/`);
    const issues = errors
      .filter((e) => !unions.some((u) => e.schemaPath.startsWith(u)))
      .map(issueFromAjv)
      .filter((i): i is ConfigIssue => i !== undefined);
    throw new ConfigError(dedupe(issues));
  }
  const issues: ConfigIssue[] = [];
  const input = data;
  const baseDir = source === '' ? process.cwd() : dirname(source);

  const poolNames = Object.keys(input.pools);
  if (!poolNames.includes(input.live)) {
    issues.push({ path: 'live', message: `unknown pool "${input.live}" (pools: ${poolNames.join(', ')})` });
  }
  if (input.listen.preview !== undefined && poolNames.length < 2) {
    issues.push({ path: 'listen.preview', message: 'needs at least two pools (it routes to the standby one)' });
  }

  // Only the single-address listeners; listen.tcp entries are added by name below.
  const listenEntries = Object.entries(input.listen).filter((e): e is [string, string] => typeof e[1] === 'string');
  for (const [i, l] of (input.listen.tcp ?? []).entries()) listenEntries.push([`tcp[${i}].address`, l.address]);
  for (const [i, l] of (input.listen.https ?? []).entries()) listenEntries.push([`https[${i}].address`, l.address]);
  const seen = new Map<string, string>();
  for (const [key, value] of listenEntries) {
    const hp = parseHostPort(value) as HostPort;
    const id = `${hp.host}:${hp.port}`;
    const other = seen.get(id);
    if (other !== undefined && hp.port !== 0) issues.push({ path: `listen.${key}`, message: `same address as listen.${other}` });
    seen.set(id, key);
  }

  const token = env.SWITCHYARD_ADMIN_TOKEN !== undefined && env.SWITCHYARD_ADMIN_TOKEN !== '' ? env.SWITCHYARD_ADMIN_TOKEN : input.admin?.token;
  const admin = parseHostPort(input.listen.admin) as HostPort;
  if (token === undefined && !isLoopback(admin.host)) {
    issues.push({ path: 'admin.token', message: `required when listen.admin (${input.listen.admin}) is not a loopback address` });
  }

  const globalHealth = resolveHealth(input.health, undefined);
  const globalPassive = resolvePassive(input.passive, undefined);
  const pools: PoolConfig[] = [];
  for (const name of poolNames) {
    const p = input.pools[name]!;
    const poolHealth = resolveHealth(p.health, globalHealth);
    const balance = p.balance ?? DEFAULTS.balance;
    if (p.hashKey !== undefined && balance !== 'hash') {
      issues.push({ path: `pools.${name}.hashKey`, message: 'only valid with balance: hash' });
    }
    const ids = new Set<string>();
    const addresses = new Set<string>();
    const servers: ServerConfig[] = p.servers.map((s, i) => {
      const hp = parseHostPort(s.address) as HostPort;
      const id = s.id ?? s.address;
      const duplicateAddress = addresses.has(s.address);
      if (duplicateAddress) issues.push({ path: `pools.${name}.servers[${i}].address`, message: `duplicate address ${s.address} in pool ${name}` });
      // An id defaulted from a duplicate address is the same mistake: report it once, at the key that was written.
      if (ids.has(id) && (s.id !== undefined || !duplicateAddress)) {
        issues.push({ path: `pools.${name}.servers[${i}].id`, message: `duplicate server id "${id}" in pool ${name}` });
      }
      ids.add(id);
      addresses.add(s.address);
      return {
        id,
        address: s.address,
        host: hp.host,
        port: hp.port,
        weight: s.weight ?? DEFAULTS.weight,
        maxInflight: s.maxInflight ?? Infinity,
        health: resolveHealth(s.health, poolHealth),
        tls: resolveUpstreamTls(s, baseDir, `pools.${name}.servers[${i}]`, issues),
      };
    });
    const passive = resolvePassive(p.passive, globalPassive);
    // Inherited values are checked (and reported) at the top-level `passive` below.
    const setHere = p.passive?.baseEjectionMs !== undefined || p.passive?.maxEjectionMs !== undefined;
    if (setHere && passive.maxEjectionMs < passive.baseEjectionMs) {
      issues.push({ path: `pools.${name}.passive.maxEjectionMs`, message: 'must be >= baseEjectionMs' });
    }
    pools.push({
      name,
      balance,
      hashKey: parseHashKey(p.hashKey ?? DEFAULTS.hashKey) as HashKey,
      servers,
      passive,
      capacityRps: p.capacityRps,
      onSwitch: p.onSwitch ?? DEFAULTS.onSwitch,
      drainTimeoutMs: p.drainTimeoutMs ?? input.drain?.timeoutMs ?? DEFAULTS.drainTimeoutMs,
    });
  }
  for (const pool of pools) {
    const p = input.pools[pool.name]!;
    for (const [i, s] of pool.servers.entries()) {
      if (s.health.timeoutMs > s.health.intervalMs && s.health.enabled) {
        // Name the level that set the clashing values, not every server that inherited them (dedupe merges repeats).
        const sets = (h: HealthInput | undefined): boolean => h?.timeoutMs !== undefined || h?.intervalMs !== undefined;
        const at = sets(p.servers[i]?.health) ? `pools.${pool.name}.servers[${i}].health` : sets(p.health) ? `pools.${pool.name}.health` : 'health';
        issues.push({ path: `${at}.timeoutMs`, message: 'must not exceed intervalMs' });
      }
    }
  }
  if (globalPassive.maxEjectionMs < globalPassive.baseEjectionMs) {
    issues.push({ path: 'passive.maxEjectionMs', message: 'must be >= baseEjectionMs' });
  }

  let page: string = DEFAULTS.maintenance.page;
  if (input.maintenance?.page !== undefined) {
    const pagePath = resolve(baseDir, input.maintenance.page);
    try {
      page = readFileSync(pagePath, 'utf8');
    } catch (err) {
      issues.push({ path: 'maintenance.page', message: `cannot read ${pagePath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    }
  }

  const tcp = resolveTcpListeners(input.listen.tcp, { pools, health: globalHealth, passive: globalPassive, connectTimeoutMs: input.proxy?.connectTimeoutMs ?? DEFAULTS.proxy.connectTimeoutMs, parseHostPort, baseDir }, issues);

  const https = resolveHttpsListeners(input.listen.https, baseDir, parseHostPort, issues);
  if (https.some((l) => l.preview) && poolNames.length < 2) {
    issues.push({ path: 'listen.https', message: 'a preview listener needs at least two pools (it routes to the standby one)' });
  }

  if (issues.length > 0) throw new ConfigError(dedupe(issues));

  const proxy = { ...DEFAULTS.proxy, ...input.proxy };
  const config: SwitchyardConfig = {
    source,
    listen: {
      http: parseHostPort(input.listen.http) as HostPort,
      admin,
      preview: input.listen.preview === undefined ? undefined : (parseHostPort(input.listen.preview) as HostPort),
      tcp,
      https,
    },
    admin: { token, openMetrics: input.admin?.openMetrics ?? false },
    state: { file: input.state === undefined ? undefined : resolve(baseDir, input.state.file) },
    live: input.live,
    pools,
    proxy: {
      ...proxy,
      poolHeader: proxy.poolHeader.toLowerCase(),
      // Upgrade tokens are case-insensitive (RFC 9110 §7.8); compare lowercase on the hot path.
      upgradeProtocols: proxy.upgradeProtocols.map((p) => p.toLowerCase()),
      maxConnectionAgeMs: input.proxy?.maxConnectionAgeMs,
    },
    drain: { timeoutMs: input.drain?.timeoutMs ?? DEFAULTS.drainTimeoutMs },
    maintenance: {
      enabled: input.maintenance?.enabled ?? DEFAULTS.maintenance.enabled,
      page,
      retryAfterSeconds: input.maintenance?.retryAfterSeconds ?? DEFAULTS.maintenance.retryAfterSeconds,
    },
    log: {
      level: input.log?.level ?? DEFAULTS.log.level,
      access: input.log?.access ?? DEFAULTS.log.access,
      sampleRate: input.log?.sampleRate ?? DEFAULTS.log.sampleRate,
    },
    shutdown: { timeoutMs: input.shutdown?.timeoutMs ?? DEFAULTS.shutdownTimeoutMs },
    workers: input.workers === 'auto' ? availableParallelism() : (input.workers ?? DEFAULTS.workers),
  };
  return deepFreeze(config);
}

function resolveHealth(input: HealthInput | undefined, parent: HealthConfig | undefined): HealthConfig {
  const base = parent ?? {
    enabled: DEFAULTS.health.enabled,
    path: DEFAULTS.health.path,
    intervalMs: DEFAULTS.health.intervalMs,
    timeoutMs: DEFAULTS.health.timeoutMs,
    rise: DEFAULTS.health.rise,
    fall: DEFAULTS.health.fall,
    expectStatus: parseStatusRanges(DEFAULTS.health.expectStatus) as StatusRange[],
    host: undefined,
  };
  if (input === undefined) return base;
  return {
    enabled: input.enabled ?? base.enabled,
    path: input.path ?? base.path,
    intervalMs: input.intervalMs ?? base.intervalMs,
    timeoutMs: input.timeoutMs ?? base.timeoutMs,
    rise: input.rise ?? base.rise,
    fall: input.fall ?? base.fall,
    expectStatus: input.expectStatus === undefined ? base.expectStatus : (parseStatusRanges(input.expectStatus) as StatusRange[]),
    host: input.host ?? base.host,
  };
}

function resolvePassive(input: PassiveInput | undefined, parent: PassiveConfig | undefined): PassiveConfig {
  const base = parent ?? DEFAULTS.passive;
  return {
    consecutiveFailures: input?.consecutiveFailures ?? base.consecutiveFailures,
    baseEjectionMs: input?.baseEjectionMs ?? base.baseEjectionMs,
    maxEjectionMs: input?.maxEjectionMs ?? base.maxEjectionMs,
  };
}

/** isLoopback — true for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.path}\u0000${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
