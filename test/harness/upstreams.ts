/**
 * The demo/test mail system behind Postern: two Dovecot mailbox servers with the accounts of the
 * shared directory fixture (libs/directory/fixtures/directory.ldif), each account on its own
 * server only, and the fixture rewritten to the ports those servers really listen on.
 *
 *   mbox1 = 127.0.0.2: alice@example.com, erin@example.com, frank@example.com, henry@partner.test
 *   mbox2 = 127.0.0.3: bob@example.com, carol@example.org, grace@example.com
 *
 * Passwords are `<localpart>-secret` ({@link DEMO_PASSWORDS}). Closed/locked accounts (frank,
 * grace) exist on Dovecot like the others: refusing them is the proxy's job, not the backend's.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIRECTORY_FIXTURE_PATH } from '@postern/directory';
import { startDovecot, type DovecotMessages, type DovecotOAuth2, type DovecotServer, type DovecotUser } from './dovecot';
import { removeDir, scratchDir } from './process';
import { makeCertificate, type TestCertificate } from './tls';

export type MailboxServerName = 'mbox1' | 'mbox2';

/** The fixture's mailbox servers: name → zimbraServiceHostname (also the address Dovecot binds). */
export const MAILBOX_HOSTS: Readonly<Record<MailboxServerName, string>> = { mbox1: '127.0.0.2', mbox2: '127.0.0.3' };

export interface DemoAccount extends DovecotUser {
  readonly server: MailboxServerName;
}

/** Every account of the fixture, on the server its zimbraMailHost names. */
export const DEMO_ACCOUNTS: readonly DemoAccount[] = [
  { user: 'alice@example.com', password: 'alice-secret', server: 'mbox1' },
  { user: 'erin@example.com', password: 'erin-secret', server: 'mbox1' },
  { user: 'frank@example.com', password: 'frank-secret', server: 'mbox1' },
  { user: 'henry@partner.test', password: 'henry-secret', server: 'mbox1' },
  { user: 'bob@example.com', password: 'bob-secret', server: 'mbox2' },
  { user: 'carol@example.org', password: 'carol-secret', server: 'mbox2' },
  { user: 'grace@example.com', password: 'grace-secret', server: 'mbox2' },
];

/** Account → password (`<localpart>-secret`). */
export const DEMO_PASSWORDS: Readonly<Record<string, string>> = Object.fromEntries(DEMO_ACCOUNTS.map((a) => [a.user, a.password]));

export interface MailboxServersOptions {
  /** Accounts and the server each lives on. Default {@link DEMO_ACCOUNTS}. */
  readonly users?: readonly DemoAccount[];
  /** IMAPS/POP3S listeners and STARTTLS on both servers, with one certificate from a test CA. */
  readonly tls?: boolean;
  /** Pre-filled INBOXes; each goes to the server holding the user. */
  readonly messages?: readonly DovecotMessages[];
  /** An oauth2 passdb (OAUTHBEARER, XOAUTH2) validating JWTs with these keys on both servers. */
  readonly oauth2?: DovecotOAuth2;
  /** Master users of both servers (see {@link DovecotOptions.masterUsers}). */
  readonly masterUsers?: readonly DovecotUser[];
}

export interface MailboxServers {
  readonly mbox1: DovecotServer;
  readonly mbox2: DovecotServer;
  /** Both, mbox1 first. */
  readonly servers: readonly DovecotServer[];
  /** The server holding `user` (case-insensitive); throws for an unknown user. */
  serverOf(user: string): DovecotServer;
  /** With `tls`: the certificate both servers present (SANs: their IPs, mbox1, mbox2, localhost). */
  readonly certificate?: TestCertificate;
  /** With `tls`: the CA that signed it (what a proxy verifying its upstreams trusts). */
  readonly caPem?: string;
  /** {@link DovecotServer.messagePath} on the server holding `user`. */
  messagePath(user: string, seq: number): string;
  /** {@link directoryLdifFor} of these servers. */
  readonly ldif: string;
  /**
   * The same LDIF in a file, e.g. for `startSlapd({ ldifFiles: [servers.ldifFile] })` (or pass the
   * text: `startSlapd({ fixture: servers.ldif })`). Deleted by stop().
   */
  readonly ldifFile: string;
  /** Stops both servers and deletes the certificate and the LDIF file. */
  stop(): Promise<void>;
}

export async function startMailboxServers(options: MailboxServersOptions = {}): Promise<MailboxServers> {
  const accounts = options.users ?? DEMO_ACCOUNTS;
  const serverName = (user: string): MailboxServerName | undefined => accounts.find((a) => a.user.toLowerCase() === user.toLowerCase())?.server;
  for (const spec of options.messages ?? []) {
    if (serverName(spec.user) === undefined) throw new Error(`messages for ${spec.user}, who has no mailbox server`);
  }
  const certificate = options.tls
    ? await makeCertificate({ commonName: 'mbox1', altNames: [MAILBOX_HOSTS.mbox1, MAILBOX_HOSTS.mbox2, 'mbox1', 'mbox2', 'localhost'] })
    : undefined;
  const dir = await scratchDir('upstreams');
  const cleanup = async () => {
    await removeDir(dir);
    await certificate?.remove();
  };

  const start = (name: MailboxServerName) =>
    startDovecot({
      name,
      host: MAILBOX_HOSTS[name],
      users: accounts.filter((a) => a.server === name).map(({ user, password }) => ({ user, password })),
      tls: certificate,
      messages: (options.messages ?? []).filter((m) => serverName(m.user) === name),
      ...(options.oauth2 ? { oauth2: options.oauth2 } : {}),
      ...(options.masterUsers ? { masterUsers: options.masterUsers } : {}),
    });
  const started = await Promise.allSettled([start('mbox1'), start('mbox2')]);
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(started.flatMap((r) => (r.status === 'fulfilled' ? [r.value.stop()] : [])));
    await cleanup();
    throw failed.reason;
  }
  const [mbox1, mbox2] = started.map((r) => (r as PromiseFulfilledResult<DovecotServer>).value) as [DovecotServer, DovecotServer];

  let ldif: string;
  const ldifFile = join(dir, 'directory.ldif');
  try {
    ldif = directoryLdifFor([mbox1, mbox2]);
    await writeFile(ldifFile, ldif);
  } catch (error) {
    await Promise.all([mbox1.stop(), mbox2.stop()]);
    await cleanup();
    throw error;
  }

  const serverOf = (user: string): DovecotServer => {
    const name = serverName(user);
    if (name === undefined) throw new Error(`${user} has no mailbox server`);
    return name === 'mbox1' ? mbox1 : mbox2;
  };
  return {
    mbox1,
    mbox2,
    servers: [mbox1, mbox2],
    serverOf,
    certificate,
    caPem: certificate?.caPem,
    messagePath(user, seq) {
      return serverOf(user).messagePath(user, seq);
    },
    ldif,
    ldifFile,
    async stop() {
      await Promise.all([mbox1.stop(), mbox2.stop()]);
      await cleanup();
    },
  };
}

/** Port attributes of a zimbraServer entry, and where each comes from. */
const PORT_ATTRIBUTES: readonly [string, (s: DovecotServer) => number | undefined][] = [
  ['zimbraImapBindPort', (s) => s.imapPort],
  ['zimbraImapSSLBindPort', (s) => s.imapsPort],
  ['zimbraPop3BindPort', (s) => s.pop3Port],
  ['zimbraPop3SSLBindPort', (s) => s.pop3sPort],
];

/**
 * The fixture directory with the port attributes of the `cn=<name>,cn=servers,...` entries of the
 * given servers (mbox1, mbox2) replaced by the ports those Dovecot instances listen on.
 *
 * An attribute is written on the server entry itself even where the fixture leaves it to the
 * global config: mbox2 has no zimbraPop3SSLBindPort in the fixture (the global 7995 applies), and
 * the generated LDIF gives it one so that POP3S reaches the real instance without changing the
 * global value (which mbox1 and any other server would inherit). A port the instance does not have
 * (IMAPS/POP3S without `tls`) keeps the fixture's value (or its absence).
 *
 * Everything else is the fixture, byte for byte: the result loads into slapd (slapadd, e.g.
 * `startSlapd({ fixture })`) and into `LdifDirectory.fromString`. `fixture` defaults to the text of
 * libs/directory/fixtures/directory.ldif.
 */
export function directoryLdifFor(upstreams: MailboxServers | readonly DovecotServer[], fixture?: string): string {
  const servers: readonly DovecotServer[] = isServerList(upstreams) ? upstreams : upstreams.servers;
  const text = fixture ?? readFileSync(DIRECTORY_FIXTURE_PATH, 'utf8');
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const records = text.split(/\r?\n(?:[ \t]*\r?\n)+/);
  const seen = new Set<string>();
  const out = records.map((record) => {
    const lines = record.split(/\r?\n/);
    const dnLine = lines.find((line) => /^dn:/i.test(line));
    const server = servers.find((s) => dnLine !== undefined && new RegExp(`^dn:\\s*cn=${s.name},cn=servers,`, 'i').test(dnLine));
    if (server === undefined) return record;
    seen.add(server.name);
    const replaced = new Set<string>();
    const kept = lines.map((line) => {
      // The fixture's comment on the entry may describe ports that are no longer there.
      if (line.startsWith('#')) return `# ${server.name}: ports rewritten by test/harness/upstreams.ts to those of the running Dovecot instance.`;
      const attribute = PORT_ATTRIBUTES.find(([name, port]) => port(server) !== undefined && line.toLowerCase().startsWith(`${name.toLowerCase()}:`));
      if (attribute === undefined) return line;
      replaced.add(attribute[0]);
      return `${attribute[0]}: ${attribute[1](server)}`;
    });
    for (const [name, port] of PORT_ATTRIBUTES) {
      const value = port(server);
      if (value !== undefined && !replaced.has(name)) kept.push(`${name}: ${value}`);
    }
    return kept.join(eol);
  });
  const missing = servers.filter((s) => !seen.has(s.name));
  if (missing.length > 0) throw new Error(`no server entry for ${missing.map((s) => s.name).join(', ')} in the directory fixture`);
  return out.join(`${eol}${eol}`);
}

function isServerList(value: MailboxServers | readonly DovecotServer[]): value is readonly DovecotServer[] {
  return Array.isArray(value);
}
