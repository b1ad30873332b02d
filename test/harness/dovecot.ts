/**
 * Starts a real Dovecot (IMAP + POP3, optionally IMAPS/POP3S and STARTTLS) as a mailbox server for
 * Postern's tests: its own scratch directory, a self-contained dovecot.conf (no `!include conf.d`),
 * listeners on `host` with ports the kernel handed out, accounts from a passwd-file, maildir homes.
 *
 * Several instances coexist: each has its own `base_dir`, `state_dir`, `instance_name` and log.
 * Dovecot runs in the foreground (`dovecot -F`), so the harness owns the master process; readiness
 * is a greeting on every listener (`* OK` / `+OK` carrying a token unique to this start), polled
 * with a deadline. The scratch directory is removed when the master exits (stop(), stopAll(), a
 * crash); restart() waits for the master to exit (≈ 1 s: it waits for its children, and
 * `master.pid` goes last) before starting the next one on the same directory.
 *
 * Runs as root only (as the harness does here): Dovecot's master must be root to switch to the
 * mail user (uid/gid 65534, nobody/nogroup) and to its dovecot/dovenull service users.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { binary, freePort, removeDir, scratchDir, startProcess, waitFor, type ManagedProcess } from './process';

/** uid/gid the mailboxes belong to (nobody/nogroup on Debian): no system user has to be created. */
export const DOVECOT_MAIL_UID = 65534;
export const DOVECOT_MAIL_GID = 65534;
// One readiness probe; waitFor retries it until its own deadline.
const PROBE_TIMEOUT_MS = 2_000;
// Dovecot starts in well under a second; the deadline only turns a wedged start into an error.
const START_TIMEOUT_MS = 20_000;
// After SIGTERM the master waits for its children (≈ 1 s here) before it exits.
const STOP_GRACE_MS = 10_000;

export interface DovecotUser {
  /** Login name as the client sends it, e.g. `alice@example.com` (Dovecot lower-cases it). */
  readonly user: string;
  readonly password: string;
}

export interface DovecotMessages {
  readonly user: string;
  /** Number of messages put in INBOX. Default 1. */
  readonly count?: number;
  /** Exact size of each message in bytes (headers included, CRLF line ends). Default 2048. */
  readonly sizeBytes?: number;
}

export interface DovecotOptions {
  /** Instance name (`instance_name`, log prefix, greeting), e.g. `mbox1`. */
  readonly name: string;
  /** Address every listener binds to, e.g. `127.0.0.2` (Linux routes all of 127.0.0.0/8 to lo). */
  readonly host: string;
  readonly users: readonly DovecotUser[];
  /** Enables IMAPS and POP3S listeners and STARTTLS/STLS on the plain ones. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /**
   * `login_trusted_networks`: clients from these may send `ID ("X-ORIGINATING-IP" ...)` (IMAP) or
   * `XCLIENT ADDR=...` (POP3) and are logged with that address. Default `['127.0.0.0/8']`.
   */
  readonly trustedNetworks?: readonly string[];
  /** INBOX contents made before start (maildir files, see {@link generateMessage}). */
  readonly messages?: readonly DovecotMessages[];
  /**
   * `auth_failure_delay`: how long a failed login waits before the NO/-ERR. Dovecot's default is
   * 2 s; the harness uses `0` so that negative tests are fast.
   */
  readonly authFailureDelay?: string;
  /**
   * Dovecot's authentication penalty: after failed logins from an IP, its next logins wait 2, 4, 8
   * and up to 15 s (anvil keeps count). Off by default: every test connects from 127.0.0.1, and
   * a few negative tests would slow down every later login. (Dovecot 2.3.19 applied it to
   * 127.0.0.1 here although it was in login_trusted_networks.)
   */
  readonly authPenalty?: boolean;
  /**
   * Master users (Dovecot's `master = yes` passdb): one may log in as any user with SASL PLAIN,
   * the user as authorization identity and its own name and secret as authentication identity.
   */
  readonly masterUsers?: readonly DovecotUser[];
  /**
   * An oauth2 passdb beside the passwd-file for OAUTHBEARER and XOAUTH2 (RFC 7628), validating
   * JWTs locally (`introspection_mode = local`): no token server, the keys are files this harness
   * writes where `local_validation_key_dict` looks them up (`<azp or default>/<ALG>/<kid>`).
   */
  readonly oauth2?: DovecotOAuth2;
}

/** What Dovecot's oauth2 passdb trusts (its `dovecot-oauth2.conf.ext`). */
export interface DovecotOAuth2 {
  /** Verification keys: PEM public keys (SPKI) by algorithm (`RS256`) and key id (the JWT's `kid`). */
  readonly keys: readonly { readonly alg: string; readonly kid: string; readonly pem: string }[];
  /** `issuers`: the JWT's `iss` must be one of these. */
  readonly issuer: string;
  /** `scope`: the JWT's `aud` must name it (Dovecot checks the audience against the scope). */
  readonly scope: string;
}

export interface DovecotServer {
  readonly name: string;
  readonly host: string;
  readonly imapPort: number;
  /** Set when `tls` was given. */
  readonly imapsPort?: number;
  readonly pop3Port: number;
  /** Set when `tls` was given. */
  readonly pop3sPort?: number;
  /** The running Dovecot master (replaced by {@link DovecotServer.restart}). */
  readonly process: ManagedProcess;
  /** The instance's scratch directory (deleted when Dovecot exits, except inside restart()). */
  readonly dir: string;
  /** Dovecot's log file (every level: `log_path`, `info_log_path` and `debug_log_path`). */
  readonly logPath: string;
  /**
   * The log so far, across restarts (after the instance stopped: the log as it was at exit).
   * Dovecot's log process writes asynchronously: prefer {@link DovecotServer.waitForLog}.
   */
  readLog(): string;
  /** Polls the log until `pattern` appears; resolves with the first matching line. */
  waitForLog(pattern: string | RegExp, timeoutMs?: number): Promise<string>;
  readonly users: readonly DovecotUser[];
  /** The pre-filled INBOX of each user (lower-cased), in UID order, exactly as FETCH BODY[] returns it. */
  readonly messages: ReadonlyMap<string, readonly Buffer[]>;
  /**
   * A file holding message `seq` (1-based: its sequence number and UID in the pre-filled INBOX) of
   * `user`, byte for byte. A copy outside the maildir, so that Dovecot renaming the maildir file
   * (new/ → cur/, flags) does not move it. Valid while the instance runs.
   */
  messagePath(user: string, seq: number): string;
  /** SIGTERM, waits for the master to exit, removes the scratch directory. */
  stop(): Promise<void>;
  /**
   * Starts Dovecot again on the same address and ports (outage tests). While running: stop, then
   * start on the same directory (mailbox changes survive). After {@link DovecotServer.stop} (or
   * any exit): a fresh directory with the same users and pre-filled messages.
   */
  restart(): Promise<void>;
}

export async function startDovecot(options: DovecotOptions): Promise<DovecotServer> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('startDovecot needs root: the Dovecot master switches to the mail user (uid 65534) and its service users');
  }
  if (!/^[a-zA-Z0-9_-]+$/.test(options.name)) throw new Error(`invalid Dovecot instance name: ${options.name}`);
  const { host } = options;
  const imapPort = await freePort(host);
  const pop3Port = await freePort(host);
  const imapsPort = options.tls ? await freePort(host) : undefined;
  const pop3sPort = options.tls ? await freePort(host) : undefined;
  const messages = generateMessages(options);

  let dir: string | undefined;
  let lastDir = '';
  let restarting = false;
  // Logs of earlier directories (a restart after a stop starts a new one), and the whole log so far.
  let earlierLogs = '';
  let lastLog = '';
  const readLog = (): string => {
    if (dir === undefined) return lastLog;
    try {
      lastLog = earlierLogs + readFileSync(join(dir, 'dovecot.log'), 'utf8');
    } catch {
      // Not written yet.
    }
    return lastLog;
  };

  // The scratch directory lives as long as Dovecot runs: removed when the master exits for any
  // reason (stop(), the harness's stopAll(), a crash), except while restart() swaps processes.
  const start = async (): Promise<ManagedProcess> => {
    if (dir === undefined) {
      earlierLogs = lastLog;
      const fresh = await scratchDir(`dovecot-${options.name}`);
      dir = fresh;
      lastDir = fresh;
      try {
        // mkdtemp made it 0700: the mail user must traverse it to reach the homes.
        await chmod(fresh, 0o755);
        await prepareHomes(fresh, options, messages);
      } catch (error) {
        dir = undefined;
        await removeDir(fresh);
        throw error;
      }
    }
    const owned = dir;
    // The greeting carries a token unique to this start: readiness cannot be answered by another
    // test's server that took the port while this one was stopped.
    const token = randomBytes(6).toString('hex');
    let proc: ManagedProcess;
    try {
      const conf = await writeConfig(owned, {
        ...options,
        imapPort,
        pop3Port,
        imapsPort,
        pop3sPort,
        greeting: `Postern test ${options.name} ${token} ready.`,
        logPath: join(owned, 'dovecot.log'),
      });
      // -F: foreground, the harness owns the master.
      proc = startProcess(`dovecot-${options.name}`, binary('dovecot'), ['-F', '-c', conf]);
    } catch (error) {
      dir = undefined;
      await removeDir(owned);
      throw error;
    }
    proc.child.once('exit', () => {
      if (restarting || dir !== owned) return;
      readLog();
      dir = undefined;
      // Synchronous: the worker may be torn down right after the last process stops.
      rmSync(owned, { recursive: true, force: true });
    });
    try {
      await waitFor(
        `dovecot ${options.name} on ${host}`,
        async () => {
          if (proc.exited) throw new Error(`dovecot exited: ${proc.output()}\n${readLog()}`);
          const probes = [
            probeGreeting(host, imapPort, false, (line) => line.startsWith('* OK') && line.includes(token)),
            probeGreeting(host, pop3Port, false, (line) => line.startsWith('+OK') && line.includes(token)),
          ];
          if (imapsPort !== undefined) probes.push(probeGreeting(host, imapsPort, true, (line) => line.startsWith('* OK') && line.includes(token)));
          if (pop3sPort !== undefined) probes.push(probeGreeting(host, pop3sPort, true, (line) => line.startsWith('+OK') && line.includes(token)));
          return (await Promise.all(probes)).every(Boolean);
        },
        { timeoutMs: START_TIMEOUT_MS },
      );
    } catch (error) {
      await proc.stop(STOP_GRACE_MS);
      throw error;
    }
    return proc;
  };

  let proc = await start();
  return {
    name: options.name,
    host,
    imapPort,
    imapsPort,
    pop3Port,
    pop3sPort,
    get process() {
      return proc;
    },
    get dir() {
      return dir ?? lastDir;
    },
    get logPath() {
      return join(dir ?? lastDir, 'dovecot.log');
    },
    readLog,
    async waitForLog(pattern, timeoutMs = 5_000) {
      const matches = (line: string) => (typeof pattern === 'string' ? line.includes(pattern) : pattern.test(line));
      let found: string | undefined;
      await waitFor(
        `${String(pattern)} in the log of dovecot ${options.name}`,
        async () => {
          found = readLog().split('\n').find(matches);
          return found !== undefined;
        },
        { timeoutMs },
      );
      return found!;
    },
    users: options.users,
    messages,
    messagePath(user, seq) {
      const list = messages.get(user.toLowerCase());
      if (list === undefined || seq < 1 || seq > list.length) throw new Error(`no pre-filled message ${seq} for ${user} on dovecot ${options.name}`);
      return join(dir ?? lastDir, 'messages', user.toLowerCase(), `${seq}.eml`);
    },
    stop: () => proc.stop(STOP_GRACE_MS),
    async restart() {
      restarting = true;
      try {
        await proc.stop(STOP_GRACE_MS);
      } finally {
        restarting = false;
      }
      proc = await start();
    },
  };
}

/** The pre-filled messages of every user (lower-cased), generated once per instance. */
function generateMessages(options: DovecotOptions): Map<string, Buffer[]> {
  const messages = new Map<string, Buffer[]>();
  for (const spec of options.messages ?? []) {
    const user = spec.user.toLowerCase();
    if (!options.users.some((u) => u.user.toLowerCase() === user)) {
      throw new Error(`messages for ${spec.user}, who is not a user of dovecot ${options.name}`);
    }
    const list = messages.get(user) ?? [];
    messages.set(user, list);
    for (let i = 0; i < (spec.count ?? 1); i++) list.push(generateMessage({ user: spec.user, index: list.length, sizeBytes: spec.sizeBytes ?? 2048 }));
  }
  return messages;
}

/** Home of `user` in the instance directory: what the static userdb's `home=` expands to. */
function homeOf(dir: string, user: string): string {
  const login = user.toLowerCase();
  const at = login.lastIndexOf('@');
  const [local, domain] = at < 0 ? [login, ''] : [login.slice(0, at), login.slice(at + 1)];
  return join(dir, 'home', domain, local);
}

/** Creates every user's home and pre-filled maildir (owned by the mail user) and the message copies. */
async function prepareHomes(dir: string, options: DovecotOptions, messages: ReadonlyMap<string, readonly Buffer[]>): Promise<void> {
  const owned: string[] = [];
  const mkdirOwned = async (path: string) => {
    await mkdir(path, { recursive: true });
    owned.push(path);
  };
  await mkdirOwned(join(dir, 'home'));
  for (const { user } of options.users) {
    if (/[\s:/]/.test(user) || user.startsWith('.')) throw new Error(`invalid Dovecot user name: ${JSON.stringify(user)}`);
    const home = homeOf(dir, user);
    await mkdirOwned(join(home, '..'));
    await mkdirOwned(home);
  }
  // Whole seconds in the past: Dovecot assigns UIDs to new/ files in the order of their names'
  // timestamps, and a maildir file name is <secs>.M<usecs>P<pid>.<host>,S=<size>.
  const epoch = Math.floor(Date.now() / 1000) - 86_400;
  for (const [user, list] of messages) {
    const maildir = join(homeOf(dir, user), 'Maildir');
    for (const sub of ['', 'cur', 'new', 'tmp']) await mkdirOwned(join(maildir, sub));
    const copies = join(dir, 'messages', user);
    await mkdir(copies, { recursive: true });
    for (const [index, body] of list.entries()) {
      // S= is the file's exact size; with CRLF line ends it is also what IMAP reports and sends.
      const file = join(maildir, 'new', `${epoch + index}.M${index}P1.postern,S=${body.length}`);
      await writeFile(file, body);
      owned.push(file);
      await writeFile(join(copies, `${index + 1}.eml`), body);
    }
  }
  for (const path of owned) await chown(path, DOVECOT_MAIL_UID, DOVECOT_MAIL_GID);
}

/**
 * A deterministic RFC 5322 message of exactly `sizeBytes` bytes with CRLF line ends: a few headers,
 * then base64-alphabet lines of 76 characters (the last ones shortened to hit the size). The same
 * arguments give the same bytes. Throws when `sizeBytes` is too small for the headers.
 */
export function generateMessage({ user, index, sizeBytes }: { user: string; index: number; sizeBytes: number }): Buffer {
  const header = Buffer.from(
    [
      'Return-Path: <sender@postern.test>',
      'From: Postern tests <sender@postern.test>',
      `To: <${user}>`,
      `Subject: Test message ${index + 1} for ${user} (${sizeBytes} bytes)`,
      `Date: ${new Date(Date.UTC(2024, 0, 1, 12, 0, index % 60)).toUTCString().replace('GMT', '+0000')}`,
      `Message-ID: <${index + 1}.${user.replace(/@/g, '.')}@postern.test>`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=us-ascii',
      '',
      '',
    ].join('\r\n'),
    'latin1',
  );
  if (sizeBytes < header.length) throw new Error(`a message needs at least ${header.length} bytes, ${sizeBytes} asked for`);
  const out = Buffer.alloc(sizeBytes);
  header.copy(out);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  // xorshift32 seeded from user and index: cheap, and reproducible across runs.
  let seed = 2166136261;
  for (const c of `${user}#${index}`) seed = Math.imul(seed ^ c.charCodeAt(0), 16777619) >>> 0;
  let state = seed || 1;
  let pos = header.length;
  while (pos < sizeBytes) {
    const left = sizeBytes - pos;
    // Lines of 76 + CRLF; a remainder of 1 byte cannot be a line, so the line before takes it.
    const length = left === 79 ? 77 : left >= 78 ? 76 : left - 2;
    if (length < 0) {
      // left === 1 only if the header ended exactly one byte short: pad with a space in the body.
      out[pos++] = 0x20;
      continue;
    }
    for (let i = 0; i < length; i++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      out[pos++] = alphabet.charCodeAt(state & 63);
    }
    out[pos++] = 0x0d;
    out[pos++] = 0x0a;
  }
  return out;
}

interface ConfigInput extends DovecotOptions {
  readonly imapPort: number;
  readonly pop3Port: number;
  readonly imapsPort: number | undefined;
  readonly pop3sPort: number | undefined;
  readonly greeting: string;
  readonly logPath: string;
}

/** Writes the passwd-file and dovecot.conf. Returns the config path. */
async function writeConfig(dir: string, input: ConfigInput): Promise<string> {
  const baseDir = join(dir, 'run');
  const stateDir = join(dir, 'state');
  await mkdir(baseDir, { recursive: true });
  await mkdir(stateDir, { recursive: true });
  const passwd = join(dir, 'users');
  // passwd-file: user:password:uid:gid:gecos:home:shell:extra — uid/gid/home come from the userdb.
  await writeFile(passwd, input.users.map(({ user, password }) => `${user}:{PLAIN}${password.replace(/[:\n]/g, '')}::::::\n`).join(''));
  await chmod(passwd, 0o644);
  const oauth2 = input.oauth2 ? await writeOAuth2(dir, input.oauth2) : undefined;
  let masters: string | undefined;
  if (input.masterUsers?.length) {
    masters = join(dir, 'master-users');
    await writeFile(masters, input.masterUsers.map(({ user, password }) => `${user}:{PLAIN}${password.replace(/[:\n]/g, '')}::::::\n`).join(''));
    await chmod(masters, 0o644);
  }
  const trusted = input.trustedNetworks ?? ['127.0.0.0/8'];
  const tls = input.tls;
  const listener = (name: string, port: number | undefined, ssl: boolean) => [
    `  inet_listener ${name} {`,
    `    address = ${input.host}`,
    `    port = ${port ?? 0}`,
    ...(ssl ? ['    ssl = yes'] : []),
    '  }',
  ];
  const lines = [
    '# Generated by test/harness/dovecot.ts: self-contained, no conf.d.',
    `instance_name = ${input.name}`,
    `base_dir = ${baseDir}`,
    `state_dir = ${stateDir}`,
    `log_path = ${input.logPath}`,
    `info_log_path = ${input.logPath}`,
    `debug_log_path = ${input.logPath}`,
    'protocols = imap pop3',
    `listen = ${input.host}`,
    `login_greeting = ${input.greeting}`,
    // The proxy logs in with plaintext over loopback; Postern's own tests cover TLS to clients.
    'disable_plaintext_auth = no',
    `auth_mechanisms = plain login${oauth2 ? ' oauthbearer xoauth2' : ''}`,
    `auth_failure_delay = ${input.authFailureDelay ?? '0'}`,
    'auth_verbose = yes',
    `login_trusted_networks = ${trusted.join(' ')}`,
    // rip is the client address Dovecot believes (X-ORIGINATING-IP / XCLIENT ADDR when trusted).
    'login_log_format_elements = user=<%u> method=%m rip=%r rport=%b lip=%l lport=%a mpid=%e %c session=<%{session}>',
    'imap_id_log = *',
    'verbose_proctitle = no',
    'mail_max_userip_connections = 10000',
    'mail_location = maildir:~/Maildir',
    `first_valid_uid = ${DOVECOT_MAIL_UID}`,
    `first_valid_gid = ${DOVECOT_MAIL_GID}`,
    ...(masters
      ? [
          // Checked first when the login names an authorization identity; pass = yes then looks the
          // user up in the next passdb, so a master login reaches existing users only.
          'passdb {',
          '  driver = passwd-file',
          `  args = scheme=PLAIN username_format=%Lu ${masters}`,
          '  master = yes',
          '  pass = yes',
          '}',
        ]
      : []),
    'passdb {',
    '  driver = passwd-file',
    `  args = scheme=PLAIN username_format=%Lu ${passwd}`,
    ...(oauth2 ? ['  mechanisms = plain login'] : []),
    '}',
    ...(oauth2 ? ['passdb {', '  driver = oauth2', '  mechanisms = oauthbearer xoauth2', `  args = ${oauth2}`, '}'] : []),
    'userdb {',
    '  driver = static',
    `  args = uid=${DOVECOT_MAIL_UID} gid=${DOVECOT_MAIL_GID} home=${join(dir, 'home')}/%Ld/%Ln`,
    '}',
    ...(tls ? ['ssl = yes', `ssl_cert = <${tls.certFile}`, `ssl_key = <${tls.keyFile}`, 'ssl_min_protocol = TLSv1.2'] : ['ssl = no']),
    // Port 0 disables a listener: Dovecot's built-in defaults would otherwise bind 993/995.
    'service imap-login {',
    ...listener('imap', input.imapPort, false),
    ...listener('imaps', input.imapsPort, true),
    // One long-lived login process serves every connection: no fork per login.
    '  service_count = 0',
    '}',
    'service pop3-login {',
    ...listener('pop3', input.pop3Port, false),
    ...listener('pop3s', input.pop3sPort, true),
    '  service_count = 0',
    '}',
    // Mail processes are reused for the next login (same uid) instead of one fork per session.
    'service imap {',
    '  service_count = 0',
    '}',
    'service pop3 {',
    '  service_count = 0',
    '}',
    ...(input.authPenalty
      ? []
      : [
          '# No socket for the auth process: authentication penalty off.',
          'service anvil {',
          '  unix_listener anvil-auth-penalty {',
          '    mode = 0',
          '  }',
          '}',
        ]),
    // Above what doveconf computes for the process limits (silences its warning at every start).
    'service auth {',
    '  client_limit = 4096',
    '}',
    '',
  ];
  const conf = join(dir, 'dovecot.conf');
  await writeFile(conf, lines.join('\n'));
  return conf;
}

/** Writes the oauth2 passdb's settings and its keys; returns the settings file's path. */
async function writeOAuth2(dir: string, oauth2: DovecotOAuth2): Promise<string> {
  const keys = join(dir, 'oauth2-keys');
  for (const { alg, kid, pem } of oauth2.keys) {
    if (!/^[A-Za-z0-9_-]+$/.test(kid)) throw new Error(`a key id the harness does not write: ${kid}`);
    await mkdir(join(keys, 'default', alg.toUpperCase()), { recursive: true });
    await writeFile(join(keys, 'default', alg.toUpperCase(), kid), pem, { mode: 0o644 });
  }
  const file = join(dir, 'dovecot-oauth2.conf.ext');
  const lines = [
    'introspection_mode = local',
    `local_validation_key_dict = fs:posix:prefix=${keys}/`,
    'username_attribute = email',
    `issuers = ${oauth2.issuer}`,
    `scope = ${oauth2.scope}`,
    '',
  ];
  await writeFile(file, lines.join('\n'), { mode: 0o644 });
  return file;
}

/** Connects (TLS without verification when `tls`) and checks the first line the server sends. */
function probeGreeting(host: string, port: number, tls: boolean, accept: (line: string) => boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const socket: Socket = tls ? tlsConnect({ host, port, rejectUnauthorized: false }) : netConnect({ host, port });
    let buffered = '';
    const done = (ok: boolean) => {
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done(false));
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      const end = buffered.indexOf('\n');
      if (end >= 0) done(accept(buffered.slice(0, end)));
    });
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}
