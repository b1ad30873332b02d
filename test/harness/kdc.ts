/**
 * Starts a real MIT Kerberos KDC (Debian's krb5-kdc) for Postern's GSSAPI tests: its own realm,
 * database, principals and keytabs in a scratch directory, a krb5.conf and kdc.conf of its own
 * (used through KRB5_CONFIG / KRB5_KDC_PROFILE, never /etc), TCP only on a loopback port the
 * harness picked, readiness polled (the port answers and a first kinit succeeds).
 *
 * Principals are made with kadmin.local on the database directly; the KDC runs in the foreground
 * (`krb5kdc -n`), so the harness owns the process.
 */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { binary, canConnect, freePort, removeDir, scratchDir, startProcess, waitFor, type ManagedProcess } from './process';

const run = promisify(execFile);
// The KDC opens its database and listens within a second; the deadline only turns a wedged start into an error.
const START_TIMEOUT_MS = 20_000;

export interface KdcPrincipal {
  readonly name: string;
  /** A password; without one the principal gets a random key (a service). */
  readonly password?: string;
  /** Longest ticket life, e.g. `3 seconds` (kadmin's `-maxlife`). */
  readonly maxLife?: string;
}

export interface KdcOptions {
  readonly realm: string;
  readonly principals: readonly KdcPrincipal[];
  /**
   * The acceptor's tolerance of clock differences (krb5.conf `clockskew`, seconds). MIT's default
   * is 300; a test of expired tickets needs less.
   */
  readonly clockSkewSeconds?: number;
}

export interface KdcServer {
  readonly realm: string;
  readonly port: number;
  readonly dir: string;
  /** KRB5_CONFIG and KRB5_KDC_PROFILE for any process that talks Kerberos in this realm. */
  readonly env: Record<string, string>;
  /** Writes a keytab with the keys of `principals` (their keys are not changed). */
  keytab(file: string, principals: readonly string[]): Promise<string>;
  /** `kinit` with a password into the credential cache `ccache` (e.g. `DIR:/path`). */
  kinit(principal: string, password: string, ccache: string): Promise<void>;
  /** Gets a service ticket into `ccache` (`kvno`), as a client does before its first use. */
  kvno(service: string, ccache: string): Promise<void>;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

export async function startKdc(options: KdcOptions): Promise<KdcServer> {
  const dir = await scratchDir('kdc');
  const port = await freePort();
  const { realm } = options;
  const krb5Conf = join(dir, 'krb5.conf');
  const kdcConf = join(dir, 'kdc.conf');
  await writeFile(
    krb5Conf,
    [
      '[libdefaults]',
      `  default_realm = ${realm}`,
      '  dns_lookup_kdc = false',
      '  dns_lookup_realm = false',
      '  dns_canonicalize_hostname = false',
      '  rdns = false',
      // Every request over TCP: the KDC has no UDP listener.
      '  udp_preference_limit = 1',
      `  clockskew = ${options.clockSkewSeconds ?? 300}`,
      '[realms]',
      `  ${realm} = {`,
      `    kdc = 127.0.0.1:${port}`,
      '  }',
      '',
    ].join('\n'),
  );
  await writeFile(
    kdcConf,
    [
      '[kdcdefaults]',
      '  kdc_ports = ""',
      `  kdc_tcp_ports = ${port}`,
      '[realms]',
      `  ${realm} = {`,
      `    database_name = ${join(dir, 'principal')}`,
      `    key_stash_file = ${join(dir, 'stash')}`,
      `    acl_file = ${join(dir, 'kadm5.acl')}`,
      '    kdc_ports = ""',
      `    kdc_tcp_listen = 127.0.0.1:${port}`,
      '    max_life = 10h',
      '  }',
      '[logging]',
      `  kdc = FILE:${join(dir, 'kdc.log')}`,
      '',
    ].join('\n'),
  );
  const env = { KRB5_CONFIG: krb5Conf, KRB5_KDC_PROFILE: kdcConf };
  const childEnv = { ...process.env, ...env };
  const kadmin = (query: string) => run(binary('kadmin.local'), ['-r', realm, '-q', query], { env: childEnv });
  let proc: ManagedProcess | undefined;
  try {
    await run(binary('kdb5_util'), ['create', '-s', '-r', realm, '-P', `master-${port}`], { env: childEnv });
    for (const p of options.principals) {
      const life = p.maxLife ? `-maxlife "${p.maxLife}" ` : '';
      await kadmin(p.password === undefined ? `addprinc -randkey ${life}${p.name}` : `addprinc -pw ${p.password} ${life}${p.name}`);
    }
    proc = startProcess('krb5kdc', binary('krb5kdc'), ['-n', '-r', realm], { env: childEnv });
    const started = proc;
    await waitFor(
      `krb5kdc on 127.0.0.1:${port}`,
      async () => {
        if (started.exited) throw new Error(`krb5kdc exited: ${started.output()}`);
        return canConnect('127.0.0.1', port);
      },
      { timeoutMs: START_TIMEOUT_MS },
    );
  } catch (error) {
    await proc?.stop();
    await removeDir(dir);
    throw error;
  }
  const kdcProcess = proc;
  // Synchronous: the worker may be torn down right after the last process stops.
  kdcProcess.child.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return {
    realm,
    port,
    dir,
    env,
    process: kdcProcess,
    async keytab(file, principals) {
      // -norandkey: the keys stay as they are, so tickets already issued remain valid.
      for (const principal of principals) await kadmin(`ktadd -norandkey -k ${file} ${principal}`);
      return file;
    },
    async kinit(principal, password, ccache) {
      await new Promise<void>((resolve, reject) => {
        const child = execFile(binary('kinit'), ['-c', ccache, principal], { env: childEnv }, (error) =>
          error ? reject(new Error(`kinit ${principal}: ${error.message}`, { cause: error })) : resolve(),
        );
        child.stdin?.end(`${password}\n`);
      });
    },
    async kvno(service, ccache) {
      await run(binary('kvno'), ['-c', ccache, service], { env: childEnv });
    },
    stop: () => kdcProcess.stop(),
  };
}
