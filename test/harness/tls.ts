/**
 * Test certificates made with the `openssl` CLI: a tiny CA (self-signed, EC P-256) and a leaf
 * certificate it signs, with a subjectAltName for every DNS name and IP address asked for.
 *
 * Clients verify the server with `ca: caPem` (Node's `tls.connect`, imapflow's `tls.ca`); servers
 * load `certFile`/`keyFile` (Dovecot's `ssl_cert = <FILE`) or `certPem`/`keyPem`.
 *
 * Each call writes into its own scratch directory; {@link TestCertificate.remove} deletes it, and
 * one left behind goes with the harness's other scratch directories (`removeScratchDirs` in process.ts).
 */
import { execFile } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { binary, removeDir, scratchDir } from './process';

const run = promisify(execFile);
// Key generation and signing take milliseconds; the cap only turns a wedged openssl into an error.
const OPENSSL_TIMEOUT_MS = 30_000;

export interface CertificateOptions {
  /** Subject CN of the leaf certificate. */
  readonly commonName: string;
  /** subjectAltName entries: DNS names and IP addresses (IPv4 or IPv6), told apart automatically. */
  readonly altNames?: readonly string[];
  /** Validity of the CA and the leaf, in days. Default 30. */
  readonly days?: number;
}

export interface TestCertificate {
  /** The leaf certificate (PEM), signed by the CA. */
  readonly certPem: string;
  /** The leaf's private key (PEM, PKCS#8, EC P-256, unencrypted). */
  readonly keyPem: string;
  /** The CA certificate (PEM): the trust anchor clients pass as `ca`. */
  readonly caPem: string;
  /** Leaf certificate followed by the CA certificate (PEM), for servers that send the chain. */
  readonly chainPem: string;
  /** Paths of the same files, inside {@link TestCertificate.dir}. */
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  readonly chainFile: string;
  /** Scratch directory holding the files. */
  readonly dir: string;
  /** Deletes {@link TestCertificate.dir}. */
  remove(): Promise<void>;
}

/** Creates a CA and a leaf certificate for `commonName` + `altNames`. */
export async function makeCertificate(options: CertificateOptions): Promise<TestCertificate> {
  const days = String(options.days ?? 30);
  const altNames = [...new Set(options.altNames ?? [])];
  const dir = await scratchDir('tls');
  try {
    const file = (name: string) => join(dir, name);
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    // The CA: self-signed, allowed to sign certificates only.
    await openssl([
      'req',
      '-x509',
      '-new',
      ...ec,
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.pem'),
      '-days',
      days,
      '-subj',
      `/O=Postern tests/CN=Postern test CA ${Date.now()}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    // The leaf: a request, then signed by the CA with the server extensions.
    await openssl(['req', '-new', ...ec, '-keyout', file('key.pem'), '-out', file('leaf.csr'), '-subj', `/CN=${escapeSubject(options.commonName)}`]);
    const san = altNames.map((name) => (isIP(name) ? `IP:${name}` : `DNS:${name}`)).join(',');
    await writeFile(
      file('leaf.ext'),
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=serverAuth,clientAuth',
        'subjectKeyIdentifier=hash',
        'authorityKeyIdentifier=keyid',
        ...(san === '' ? [] : [`subjectAltName=${san}`]),
        '',
      ].join('\n'),
    );
    await openssl([
      'x509',
      '-req',
      '-in',
      file('leaf.csr'),
      '-CA',
      file('ca.pem'),
      '-CAkey',
      file('ca.key'),
      '-set_serial',
      `0x${Date.now().toString(16)}`,
      '-days',
      days,
      '-sha256',
      '-extfile',
      file('leaf.ext'),
      '-out',
      file('cert.pem'),
    ]);
    const [certPem, keyPem, caPem] = await Promise.all(['cert.pem', 'key.pem', 'ca.pem'].map((name) => readFile(file(name), 'utf8')));
    const chainPem = `${certPem!.trimEnd()}\n${caPem!.trimEnd()}\n`;
    await writeFile(file('chain.pem'), chainPem);
    // Servers that drop privileges (Dovecot reads the files as root, others may not) can read them.
    await chmod(dir, 0o755);
    await Promise.all(['cert.pem', 'key.pem', 'ca.pem', 'chain.pem'].map((name) => chmod(file(name), 0o644)));
    return {
      certPem: certPem!,
      keyPem: keyPem!,
      caPem: caPem!,
      chainPem,
      certFile: file('cert.pem'),
      keyFile: file('key.pem'),
      caFile: file('ca.pem'),
      chainFile: file('chain.pem'),
      dir,
      async remove() {
        await removeDir(dir);
      },
    };
  } catch (error) {
    await removeDir(dir);
    throw error;
  }
}

/** Escapes the characters `openssl -subj` treats specially. */
function escapeSubject(value: string): string {
  return value.replace(/[\\/,=+]/g, (c) => `\\${c}`);
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run(binary('openssl'), args, { timeout: OPENSSL_TIMEOUT_MS });
  } catch (error) {
    const detail = error as { stderr?: string; message: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${detail.stderr || detail.message}`, { cause: error });
  }
}
