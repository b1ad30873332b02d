/**
 * Starts a real OpenLDAP slapd (back-mdb) on an ephemeral loopback port, loaded with Postern's
 * schema and the shared fixture directory (libs/directory/fixtures/directory.ldif), with the
 * accesslog overlay logging every write to `cn=accesslog`.
 *
 * The data is bulk-loaded with slapadd while slapd is stopped, then slapd runs in the foreground
 * (`-d 0`: no debug output, but no fork either, so the harness owns the process). Readiness is an
 * LDAP search of the suffix that succeeds, polled with a deadline (never a fixed sleep).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { binary, canConnect, freePort, removeDir, scratchDir, startProcess, waitFor, type ManagedProcess } from './process';

const run = promisify(execFile);

const REPO_ROOT = resolve(__dirname, '..', '..');
/** Postern's schema for the Zimbra attribute names. */
export const SLAPD_SCHEMA = join(REPO_ROOT, 'libs', 'directory', 'schema', 'postern-zimbra.schema');
/** The fixture every test and the single-node stack share. */
export const SLAPD_FIXTURE = join(REPO_ROOT, 'libs', 'directory', 'fixtures', 'directory.ldif');

const BASE_DN = 'dc=postern,dc=test';
const ROOT_DN = `cn=admin,${BASE_DN}`;
/** The accesslog database's suffix: one entry per successful write. */
export const ACCESSLOG_DN = 'cn=accesslog';
// Readiness binds as the manager with a password unique to each instance, so that a probe cannot
// be answered by another test's slapd that took the port while this one was stopped for restart().
const instancePassword = () => `postern-test-${randomBytes(9).toString('hex')}`;
// back-mdb maps its whole map size up front; 64 MiB is ample for fixtures and small on disk (sparse).
const MDB_MAX_SIZE = 64 * 1024 * 1024;
// slaptest/slapadd on a fixture take well under a second; the cap only turns a wedged tool into an error.
const TOOL_TIMEOUT_MS = 30_000;
// One readiness probe; waitFor retries it until its own deadline.
const PROBE_TIMEOUT_MS = 2_000;

export interface SlapdOptions {
  /**
   * LDIF text loaded instead of the shared fixture file (e.g. `directoryLdifFor(upstreams)`: the
   * fixture with the real ports of the test's mailbox servers). Loaded before `ldifFiles`.
   */
  readonly fixture?: string;
  /** LDIF files to load, in order. Default: the shared fixture (unless `fixture` is given). */
  readonly ldifFiles?: readonly string[];
  /** Extra LDIF text loaded after the files (entries below `dc=postern,dc=test`). */
  readonly ldif?: string;
  /**
   * Whether the accesslog records old values (`logold`, default true). OpenLDAP's own
   * delta-syncrepl example leaves it out: then a write is logged without `reqOld`.
   */
  readonly logOld?: boolean;
}

/** The environment that points a route-lookup service at `slapd`, bound as its manager. */
export function directoryEnv(slapd: SlapdServer): Record<string, string> {
  return {
    POSTERN_LDAP_URLS: slapd.url,
    POSTERN_LDAP_BIND_DN: slapd.rootDn,
    POSTERN_LDAP_BIND_PASSWORD: slapd.rootPassword,
    POSTERN_LDAP_BASE_DN: slapd.baseDn,
  };
}

export interface SlapdServer {
  readonly host: string;
  readonly port: number;
  /** `ldap://127.0.0.1:PORT` */
  readonly url: string;
  /** `dc=postern,dc=test` */
  readonly baseDn: string;
  /** Manager DN with full access (no ACLs restrict it). */
  readonly rootDn: string;
  readonly rootPassword: string;
  /** The running slapd (replaced by {@link SlapdServer.restart}). */
  readonly process: ManagedProcess;
  /** Stops slapd and removes its scratch directory. */
  stop(): Promise<void>;
  /**
   * Starts slapd again on the same port (outage tests). While running: stop, then start on the
   * same database (changes made over LDAP survive). After {@link SlapdServer.stop} (or any exit):
   * the same LDIF is loaded again into a fresh scratch directory.
   */
  restart(): Promise<void>;
  /**
   * Freezes slapd (SIGSTOP) and resolves once every thread has stopped: the kernel still accepts
   * connections into the listen backlog, but nothing answers (a hung server). Linux only.
   */
  pause(): Promise<void>;
  /** Undoes {@link SlapdServer.pause} (SIGCONT). */
  resume(): Promise<void>;
}

export async function startSlapd(options: SlapdOptions = {}): Promise<SlapdServer> {
  const host = '127.0.0.1';
  const port = await freePort(host);
  let dir: string | undefined;
  let conf = '';
  let restarting = false;
  const rootPassword = instancePassword();

  // The scratch directory lives as long as slapd runs: removed when the process exits for any
  // reason (stop(), the harness's stopAll(), a crash), except while restart() swaps processes.
  const start = async (): Promise<ManagedProcess> => {
    if (dir === undefined) {
      const fresh = await scratchDir('slapd');
      dir = fresh;
      try {
        conf = await prepare(fresh, options, rootPassword);
      } catch (error) {
        dir = undefined;
        await removeDir(fresh);
        throw error;
      }
    }
    const owned = dir;
    let running: ManagedProcess;
    try {
      running = await launch(conf, host, port, rootPassword);
    } catch (error) {
      dir = undefined;
      await removeDir(owned);
      throw error;
    }
    running.child.once('exit', () => {
      if (restarting || dir !== owned) return;
      dir = undefined;
      // Synchronous: the worker may be torn down right after the last process stops.
      rmSync(owned, { recursive: true, force: true });
    });
    if (running.exited && dir === owned) {
      dir = undefined;
      await removeDir(owned);
    }
    return running;
  };

  let proc = await start();
  return {
    host,
    port,
    url: `ldap://${host}:${port}`,
    baseDn: BASE_DN,
    rootDn: ROOT_DN,
    rootPassword,
    get process() {
      return proc;
    },
    async stop() {
      // A paused slapd would hold SIGTERM until the grace period ends in SIGKILL.
      if (!proc.exited) proc.child.kill('SIGCONT');
      await proc.stop();
    },
    async restart() {
      restarting = true;
      try {
        if (!proc.exited) proc.child.kill('SIGCONT');
        await proc.stop();
      } finally {
        restarting = false;
      }
      // After stop() the data is gone: start() loads the same LDIF into a fresh directory.
      proc = await start();
    },
    async pause() {
      proc.child.kill('SIGSTOP');
      // The signal takes effect asynchronously; a request sent too early could still be answered.
      await waitFor('slapd to stop', () => allThreadsStopped(proc.pid));
    },
    async resume() {
      proc.child.kill('SIGCONT');
    },
  };
}

/** True when every thread of `pid` is in state T (stopped), per /proc/<pid>/task/<tid>/stat. */
async function allThreadsStopped(pid: number): Promise<boolean> {
  const tasks = await readdir(`/proc/${pid}/task`);
  for (const tid of tasks) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    // Format: "tid (comm) state ..."; comm may contain spaces, so read after the last ')'.
    if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'T') return false;
  }
  return true;
}

/** Writes slapd.conf, checks it, and bulk-loads the LDIF. Returns the config path. */
async function prepare(dir: string, options: SlapdOptions, rootPassword: string): Promise<string> {
  const dbDir = join(dir, 'db');
  await mkdir(dbDir);
  const logDir = join(dir, 'accesslog');
  await mkdir(logDir);
  const conf = join(dir, 'slapd.conf');
  await writeFile(
    conf,
    [
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      'moduleload accesslog',
      'include /etc/ldap/schema/core.schema',
      'include /etc/ldap/schema/cosine.schema',
      'include /etc/ldap/schema/inetorgperson.schema',
      `include ${SLAPD_SCHEMA}`,
      `pidfile ${join(dir, 'slapd.pid')}`,
      `argsfile ${join(dir, 'slapd.args')}`,
      // The change log (what delta-syncrepl reads): every successful write with its time, CSN and
      // old values. The config-watcher reads it from a cursor.
      'database mdb',
      `maxsize ${MDB_MAX_SIZE}`,
      `suffix "${ACCESSLOG_DN}"`,
      `rootdn "${ROOT_DN}"`,
      `directory ${logDir}`,
      'index reqStart eq',
      'database mdb',
      `maxsize ${MDB_MAX_SIZE}`,
      `suffix "${BASE_DN}"`,
      `rootdn "${ROOT_DN}"`,
      `rootpw ${rootPassword}`,
      `directory ${dbDir}`,
      'index objectClass eq',
      'index zimbraMailDeliveryAddress,zimbraMailAlias,zimbraId,zimbraDomainName eq',
      'index zimbraVirtualHostname,zimbraVirtualIPAddress,zimbraServiceHostname eq',
      'overlay accesslog',
      `logdb "${ACCESSLOG_DN}"`,
      'logops writes',
      'logsuccess TRUE',
      ...(options.logOld === false ? [] : ['logold (objectClass=*)']),
      'logpurge 07+00:00 01+00:00',
      '',
    ].join('\n'),
  );
  await tool('slaptest', ['-u', '-f', conf]);

  const files = [...(options.ldifFiles ?? (options.fixture === undefined ? [SLAPD_FIXTURE] : []))];
  if (options.fixture !== undefined) {
    const fixture = join(dir, 'fixture.ldif');
    await writeFile(fixture, options.fixture);
    files.unshift(fixture);
  }
  if (options.ldif !== undefined) {
    const extra = join(dir, 'extra.ldif');
    await writeFile(extra, options.ldif);
    files.push(extra);
  }
  for (const file of files) await tool('slapadd', ['-q', '-f', conf, '-b', BASE_DN, '-l', file]);
  return conf;
}

async function launch(conf: string, host: string, port: number, rootPassword: string): Promise<ManagedProcess> {
  const url = `ldap://${host}:${port}/`;
  // Running as root here is fine for a loopback test server; elsewhere slapd runs as the caller.
  const proc = startProcess('slapd', binary('slapd'), ['-f', conf, '-h', url, '-d', '0']);
  try {
    await waitFor(`slapd on ${url}`, async () => {
      if (proc.exited) throw new Error(`slapd exited: ${proc.output()}`);
      if (!(await canConnect(host, port))) return false;
      await tool('ldapsearch', ['-x', '-H', url, '-D', ROOT_DN, '-w', rootPassword, '-b', BASE_DN, '-s', 'base', '-LLL', 'dn'], PROBE_TIMEOUT_MS);
      // Answered with our password: it is our slapd (a foreign one would have refused the bind).
      return !proc.exited;
    });
  } catch (error) {
    await proc.stop();
    throw error;
  }
  return proc;
}

async function tool(name: string, args: string[], timeoutMs = TOOL_TIMEOUT_MS): Promise<void> {
  try {
    await run(binary(name), args, { timeout: timeoutMs });
  } catch (error) {
    const detail = error as { stderr?: string; message: string };
    throw new Error(`${name} ${args.join(' ')} failed: ${detail.stderr || detail.message}`, { cause: error });
  }
}

/** Applies `ldif` (changetype records) to a running slapd with the `ldapmodify` client, bound as its manager. */
export async function ldapModify(slapd: SlapdServer, ldif: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = execFile(
      binary('ldapmodify'),
      ['-x', '-H', slapd.url, '-D', slapd.rootDn, '-w', slapd.rootPassword],
      { timeout: 30_000 },
      (error, _stdout, stderr) => (error ? reject(new Error(`ldapmodify failed: ${stderr || error.message}`)) : resolve()),
    );
    child.stdin?.end(ldif);
  });
}

/** Applies one `changetype: modify` to `dn` (`lines`: e.g. `replace: attr`, `attr: value`). */
export function ldapModifyEntry(slapd: SlapdServer, dn: string, ...lines: string[]): Promise<void> {
  return ldapModify(slapd, [`dn: ${dn}`, 'changetype: modify', ...lines, ''].join('\n'));
}
