/**
 * tls/pem — read and check certificate/key files. Used both when the config is
 * loaded (every problem becomes a config issue naming its key path) and when
 * certificates are reloaded (the first problem refuses the whole reload), so
 * the two can never disagree about what a valid file is.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';

/** TlsVersion — the lowest protocol version a listener accepts. */
export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

/** PemProblem — which file (and so which config key) is wrong, and why. */
export interface PemProblem {
  readonly which: 'cert' | 'key' | 'ca';
  readonly file: string;
  readonly message: string;
}

/** PemError — a certificate, key or CA file could not be used; names the file. */
export class PemError extends Error {
  readonly problem: PemProblem;
  constructor(problem: PemProblem) {
    super(`${problem.file}: ${problem.message}`);
    this.name = 'PemError';
    this.problem = problem;
  }
}

/** readPem — the file's bytes, or a PemError saying it cannot be read. */
export function readPem(file: string, which: PemProblem['which']): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new PemError({ which, file, message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
  }
}

/** readCa — a CA bundle file checked to hold at least one certificate. */
export function readCa(file: string): string {
  const pem = readPem(file, 'ca').toString('utf8');
  try {
    new X509Certificate(pem);
  } catch (err) {
    throw new PemError({ which: 'ca', file, message: `not a PEM certificate: ${(err as Error).message}` });
  }
  return pem;
}

/** CertPaths — one certificate chain and its private key (absolute paths). */
export interface CertPaths {
  readonly cert: string;
  readonly key: string;
}

/** SecureSettings — the protocol settings every context of a listener shares. */
export interface SecureSettings {
  readonly minVersion: TlsVersion;
}

/** BuiltContext — a SecureContext and the PEM bytes it was built from (setSecureContext needs those). */
export interface BuiltContext {
  readonly context: SecureContext;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * buildContext — read a cert/key pair and build its SecureContext. The
 * certificate and the key are parsed separately first, so the error names the
 * file that is wrong rather than OpenSSL's combined complaint.
 */
export function buildContext(paths: CertPaths, settings: SecureSettings): BuiltContext {
  const cert = readPem(paths.cert, 'cert');
  const key = readPem(paths.key, 'key');
  try {
    new X509Certificate(cert);
  } catch (err) {
    throw new PemError({ which: 'cert', file: paths.cert, message: `not a PEM certificate: ${(err as Error).message}` });
  }
  try {
    createPrivateKey(key);
  } catch (err) {
    throw new PemError({ which: 'key', file: paths.key, message: `not a PEM private key: ${(err as Error).message}` });
  }
  try {
    return { context: createSecureContext({ ...secureOptions(settings), cert, key }), cert, key };
  } catch (err) {
    throw new PemError({ which: 'key', file: paths.key, message: `does not match ${paths.cert}: ${(err as Error).message}` });
  }
}

/**
 * secureOptions — TLS 1.2+ (or 1.3 only), Node's default cipher list (its
 * modern ECDHE/AEAD-first list, tls.DEFAULT_CIPHERS), and the server's cipher
 * preference order so a client cannot steer towards the weakest suite it lists.
 */
export function secureOptions(settings: SecureSettings): { minVersion: TlsVersion; honorCipherOrder: true } {
  return { minVersion: settings.minVersion, honorCipherOrder: true };
}
