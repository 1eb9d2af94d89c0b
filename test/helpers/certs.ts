/**
 * test/helpers/certs — certificates for TLS tests, generated with the openssl
 * CLI into a temp directory: a test CA, and leaf certificates it signs for
 * given DNS names / IPs (CN = the first name, so a client can tell which
 * certificate a listener served). Fails loudly when openssl is missing: TLS
 * tests need real certificates (.ci/run installs it).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** CertFiles — paths of a PEM certificate and its key, and the certificate text. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
  readonly pem: string;
}

function openssl(args: readonly string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('openssl is not installed: TLS tests need it (apt-get install -y openssl)');
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

/** makeCa — a self-signed CA (EC P-256, 1 day) named `name` in `dir`. */
export function makeCa(dir: string, name = 'ca'): CertFiles {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=Switchyard Test CA ${name}`], dir);
  return { cert, key, pem: readFileSync(cert, 'utf8') };
}

/** makeCert — a leaf certificate for `names` (DNS names or IPs; CN = names[0]) signed by `ca`, written as `file`.crt/.key. */
export function makeCert(dir: string, file: string, ca: CertFiles, names: readonly string[]): CertFiles {
  const key = join(dir, `${file}.key`);
  const csr = join(dir, `${file}.csr`);
  const cert = join(dir, `${file}.crt`);
  const ext = join(dir, `${file}.ext`);
  const san = names.map((n) => (/^[\d.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  writeFileSync(ext, `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${names[0] ?? file}`], dir);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '1', '-extfile', ext], dir);
  return { cert, key, pem: readFileSync(cert, 'utf8') };
}
