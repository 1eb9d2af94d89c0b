/**
 * config/https — resolves listen.https entries and servers' upstream TLS keys:
 * paths made absolute (relative to the config file), every certificate, key
 * and CA file read and checked now, so a typo or a mismatched key is a config
 * error naming its key path instead of a failed handshake in production.
 */
import { resolve } from 'node:path';
import { buildContext, PemError, readCa } from '../tls/pem.js';
import type { ConfigIssue } from './load.js';
import type { HostPort, HttpsListenerConfig, UpstreamTlsConfig } from './types.js';
import type { ConfigInput, UpstreamTlsInput } from './schema.js';

type HttpsInput = NonNullable<ConfigInput['listen']['https']>;

/** HTTPS_DEFAULTS — TLS listener defaults (README and reference.yaml quote them). */
export const HTTPS_DEFAULTS = Object.freeze({ http2: true, minVersion: 'TLSv1.2' as const, preview: false });

function pemIssue(err: unknown, at: string): ConfigIssue {
  if (err instanceof PemError) return { path: `${at}.${err.problem.which}`, message: err.problem.message };
  return { path: at, message: (err as Error).message };
}

/** resolveHttpsListeners — listen.https → HttpsListenerConfig[]; problems go to `issues`. */
export function resolveHttpsListeners(
  input: HttpsInput | undefined,
  baseDir: string,
  parseHostPort: (v: string) => HostPort | undefined,
  issues: ConfigIssue[],
): HttpsListenerConfig[] {
  const out: HttpsListenerConfig[] = [];
  for (const [i, l] of (input ?? []).entries()) {
    const at = `listen.https[${i}]`;
    const minVersion = l.minVersion ?? HTTPS_DEFAULTS.minVersion;
    const cert = resolve(baseDir, l.cert);
    const key = resolve(baseDir, l.key);
    try {
      buildContext({ cert, key }, { minVersion });
    } catch (err) {
      issues.push(pemIssue(err, at));
    }
    const sni = (l.sni ?? []).map((e, j) => {
      const entry = { names: e.names.map((n) => n.toLowerCase()), cert: resolve(baseDir, e.cert), key: resolve(baseDir, e.key) };
      try {
        buildContext(entry, { minVersion });
      } catch (err) {
        issues.push(pemIssue(err, `${at}.sni[${j}]`));
      }
      return entry;
    });
    out.push({
      bind: parseHostPort(l.address) as HostPort,
      cert,
      key,
      sni,
      http2: l.http2 ?? HTTPS_DEFAULTS.http2,
      minVersion,
      preview: l.preview ?? HTTPS_DEFAULTS.preview,
    });
  }
  return out;
}

/** resolveUpstreamTls — a server's tls/ca/servername keys (HTTP pool or TCP listener server) → UpstreamTlsConfig (undefined without tls: true). */
export function resolveUpstreamTls(s: UpstreamTlsInput, baseDir: string, at: string, issues: ConfigIssue[]): UpstreamTlsConfig | undefined {
  if (s.tls !== true) {
    if (s.ca !== undefined) issues.push({ path: `${at}.ca`, message: 'only valid with tls: true' });
    if (s.servername !== undefined) issues.push({ path: `${at}.servername`, message: 'only valid with tls: true' });
    return undefined;
  }
  let ca: string | undefined;
  const caFile = s.ca === undefined ? undefined : resolve(baseDir, s.ca);
  if (caFile !== undefined) {
    try {
      ca = readCa(caFile);
    } catch (err) {
      issues.push(pemIssue(err, at));
    }
  }
  return { ca, caFile, servername: s.servername };
}
