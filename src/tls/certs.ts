/**
 * tls/certs — the certificates of one TLS listener: a default SecureContext
 * and the SNI table (exact names, then `*.example.com` wildcards matching
 * exactly one label). A reload builds a complete new set first and swaps it in
 * one assignment, so a bad file leaves the old set serving, and connections
 * already established keep the context they negotiated with.
 */
import type { SecureContext, Server as TlsServer } from 'node:tls';
import { buildContext, secureOptions, type BuiltContext, type CertPaths, type SecureSettings } from './pem.js';

/** SniEntry — host names served with one certificate (lowercase; `*.x.y` for wildcards). */
export interface SniEntry extends CertPaths {
  readonly names: readonly string[];
}

/** CertSetConfig — what a listener's certificates are built from. */
export interface CertSetConfig extends CertPaths, SecureSettings {
  readonly sni: readonly SniEntry[];
}

interface Contexts {
  readonly fallback: BuiltContext;
  readonly exact: ReadonlyMap<string, SecureContext>;
  readonly wildcard: ReadonlyMap<string, SecureContext>;
}

/** build — every context of the set, or the first PemError (nothing is swapped then). */
function build(config: CertSetConfig): Contexts {
  const fallback = buildContext(config, config);
  const exact = new Map<string, SecureContext>();
  const wildcard = new Map<string, SecureContext>();
  for (const entry of config.sni) {
    const ctx = buildContext(entry, config).context;
    for (const name of entry.names) {
      // First entry wins for a name listed twice: the order in the config is the priority.
      if (name.startsWith('*.')) {
        if (!wildcard.has(name.slice(2))) wildcard.set(name.slice(2), ctx);
      } else if (!exact.has(name)) exact.set(name, ctx);
    }
  }
  return { fallback, exact, wildcard };
}

/** CertSet — the live certificates of one TLS listener. */
export class CertSet {
  readonly #config: CertSetConfig;
  #contexts: Contexts;
  #server: TlsServer | undefined;
  /** sniCallback — bound once; passed as the server's SNICallback. */
  readonly sniCallback: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;

  /** Reads every file now; throws a PemError when one is unusable. */
  constructor(config: CertSetConfig) {
    this.#config = config;
    this.#contexts = build(config);
    this.sniCallback = (servername, cb) => cb(null, this.lookup(servername));
  }

  /** defaultContext — the context served without SNI or for an unknown name. */
  get defaultContext(): SecureContext {
    return this.#contexts.fallback.context;
  }

  /** defaultPem — the default certificate and key bytes (for the server's own options). */
  get defaultPem(): { readonly cert: Buffer; readonly key: Buffer } {
    return this.#contexts.fallback;
  }

  /** attach — the server whose own default context a swap replaces (setSecureContext). */
  attach(server: TlsServer): void {
    this.#server = server;
  }

  /** lookup — the context for a client's SNI name: exact, then one-label wildcard, else the default. */
  lookup(servername: string): SecureContext {
    const c = this.#contexts;
    if (servername === '') return c.fallback.context;
    const name = servername.toLowerCase();
    const exact = c.exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    if (dot > 0) {
      const wild = c.wildcard.get(name.slice(dot + 1));
      if (wild !== undefined) return wild;
    }
    return c.fallback.context;
  }

  /**
   * prepare — re-read every file and build the new set now (throws a PemError,
   * and changes nothing, on the first bad file); the returned function swaps
   * it in. Split so the app can prepare every listener before swapping any.
   * Established connections are untouched: a SecureContext only matters
   * during a handshake.
   */
  prepare(): () => void {
    const next = build(this.#config);
    return () => this.#swap(next);
  }

  #swap(next: Contexts): void {
    this.#contexts = next;
    // The default context lives inside the server (used when no SNI is sent and
    // SNICallback is not consulted); setSecureContext replaces it for new handshakes.
    this.#server?.setSecureContext({ ...secureOptions(this.#config), cert: next.fallback.cert, key: next.fallback.key });
  }

  /** files — every file this set reads (for the reload report). */
  get files(): string[] {
    return [this.#config.cert, this.#config.key, ...this.#config.sni.flatMap((e) => [e.cert, e.key])];
  }
}
