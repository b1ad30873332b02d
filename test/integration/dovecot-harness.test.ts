/**
 * The Dovecot mailbox servers of the test harness: both fixture servers start with their own
 * accounts only, IMAP (plain, STARTTLS, IMAPS) and POP3 (plain, POP3S) work, a pre-filled message
 * comes back byte for byte, the client address a trusted proxy announces reaches Dovecot's log, and
 * the directory fixture rewritten to the real ports loads into the LDIF directory and slapd.
 */
import { existsSync, readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attr, LdapDirectory, LdifDirectory, type DirectoryBackend } from '@postern/directory';
import {
  DEMO_ACCOUNTS,
  DEMO_PASSWORDS,
  directoryLdifFor,
  generateMessage,
  makeCertificate,
  MAILBOX_HOSTS,
  startDovecot,
  startMailboxServers,
  startSlapd,
  stopAll,
  type DovecotServer,
  type MailboxServers,
} from '../harness';

const BASE_DN = 'dc=postern,dc=test';
const ONE_MB = 1024 * 1024;
const SMALL = 3000;

let upstreams: MailboxServers;

beforeAll(async () => {
  upstreams = await startMailboxServers({
    tls: true,
    messages: [
      { user: 'alice@example.com', count: 1, sizeBytes: ONE_MB },
      { user: 'alice@example.com', count: 2, sizeBytes: SMALL },
      { user: 'bob@example.com', count: 1 },
    ],
  });
});

afterAll(async () => {
  await upstreams?.stop();
  await stopAll();
});

function imap(server: DovecotServer, user: string, password: string, overrides: Partial<ImapFlowOptions> = {}): ImapFlow {
  return new ImapFlow({
    host: server.host,
    port: server.imapPort,
    secure: false,
    doSTARTTLS: false,
    auth: { user, pass: password },
    logger: false,
    connectionTimeout: 5_000,
    greetingTimeout: 5_000,
    ...overrides,
  });
}

/** Logs in, opens INBOX, returns its message count, logs out. */
async function loginAndCount(client: ImapFlow): Promise<number> {
  await client.connect();
  try {
    const mailbox = await client.mailboxOpen('INBOX');
    return mailbox.exists;
  } finally {
    await client.logout();
  }
}

/** A line-oriented raw client that records the whole conversation. */
class Transcript {
  readonly lines: string[] = [];
  private buffer = '';
  private waiter: (() => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('latin1');
      this.waiter?.();
    });
    socket.on('close', () => this.waiter?.());
  }

  static async open(host: string, port: number, tls?: { ca: string }): Promise<Transcript> {
    const socket = tls ? tlsConnect({ host, port, ca: tls.ca }) : netConnect({ host, port, localAddress: '127.0.0.1' });
    await new Promise<void>((resolve, reject) => {
      socket.once(tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    return new Transcript(socket);
  }

  /** Reads lines until `done(line)` is true for one; returns them. */
  async readUntil(done: (line: string) => boolean, timeoutMs = 5_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    const got: string[] = [];
    for (;;) {
      const end = this.buffer.indexOf('\r\n');
      if (end >= 0) {
        const line = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        this.lines.push(`S: ${line}`);
        got.push(line);
        if (done(line)) return got;
        continue;
      }
      if (this.socket.destroyed || Date.now() > deadline) throw new Error(`no answer; transcript:\n${this.lines.join('\n')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  send(line: string): void {
    this.lines.push(`C: ${line}`);
    this.socket.write(`${line}\r\n`);
  }

  /** IMAP: sends a tagged command, returns the lines up to and including the tagged answer. */
  async command(tag: string, command: string): Promise<string[]> {
    this.send(`${tag} ${command}`);
    return this.readUntil((line) => line.startsWith(`${tag} `));
  }

  /** POP3: sends a command, returns the one-line answer. */
  async pop(command: string): Promise<string> {
    this.send(command);
    const [line] = await this.readUntil(() => true);
    return line!;
  }

  close(): void {
    this.socket.destroy();
  }
}

describe('the two fixture mailbox servers', () => {
  it('start on the fixture hosts with every listener', () => {
    expect(upstreams.mbox1).toMatchObject({ name: 'mbox1', host: MAILBOX_HOSTS.mbox1 });
    expect(upstreams.mbox2).toMatchObject({ name: 'mbox2', host: MAILBOX_HOSTS.mbox2 });
    for (const server of upstreams.servers) {
      for (const port of [server.imapPort, server.imapsPort, server.pop3Port, server.pop3sPort]) {
        expect(port).toBeGreaterThan(0);
      }
      expect(server.readLog()).toContain(`starting up for imap, pop3`);
    }
    expect(DEMO_PASSWORDS['alice@example.com']).toBe('alice-secret');
    expect(upstreams.serverOf('ALICE@example.com')).toBe(upstreams.mbox1);
    expect(upstreams.serverOf('carol@example.org')).toBe(upstreams.mbox2);
  });

  it('alice logs in on mbox1 over plain IMAP and sees her pre-filled INBOX', async () => {
    expect(await loginAndCount(imap(upstreams.mbox1, 'alice@example.com', 'alice-secret'))).toBe(3);
  });

  it('alice logs in on mbox1 over IMAPS, verifying the chain with the test CA', async () => {
    const client = imap(upstreams.mbox1, 'alice@example.com', 'alice-secret', {
      port: upstreams.mbox1.imapsPort,
      secure: true,
      tls: { ca: upstreams.certificate!.caPem, rejectUnauthorized: true },
    });
    expect(await loginAndCount(client)).toBe(3);
  });

  it('alice logs in on mbox1 after STARTTLS, verifying the chain with the test CA', async () => {
    const client = imap(upstreams.mbox1, 'alice@example.com', 'alice-secret', {
      doSTARTTLS: true,
      tls: { ca: upstreams.certificate!.caPem, rejectUnauthorized: true },
    });
    await client.connect();
    try {
      expect(client.secureConnection).toBe(true);
    } finally {
      await client.logout();
    }
  });

  it('a certificate from another CA is refused (the chain is really checked)', async () => {
    const stranger = await makeCertificate({ commonName: 'mbox1', altNames: [MAILBOX_HOSTS.mbox1] });
    try {
      const client = imap(upstreams.mbox1, 'alice@example.com', 'alice-secret', {
        port: upstreams.mbox1.imapsPort,
        secure: true,
        tls: { ca: stranger.caPem, rejectUnauthorized: true },
      });
      client.on('error', () => undefined);
      await expect(client.connect()).rejects.toThrow(/certificate/i);
    } finally {
      await stranger.remove();
    }
  });

  it('alice does not exist on mbox2 (each account lives on its own server only)', async () => {
    const error = await loginAndCount(imap(upstreams.mbox2, 'alice@example.com', 'alice-secret')).catch((e: unknown) => e);
    expect(error).toMatchObject({ authenticationFailed: true });
  });

  it('a wrong password is refused at once (auth_failure_delay = 0)', async () => {
    const started = Date.now();
    const error = await loginAndCount(imap(upstreams.mbox1, 'alice@example.com', 'wrong')).catch((e: unknown) => e);
    expect(error).toMatchObject({ authenticationFailed: true });
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it.each(DEMO_ACCOUNTS.map((a) => [a.user, a.server] as const))('%s logs in on %s only', async (user, server) => {
    const own = server === 'mbox1' ? upstreams.mbox1 : upstreams.mbox2;
    const other = server === 'mbox1' ? upstreams.mbox2 : upstreams.mbox1;
    await expect(loginAndCount(imap(own, user, DEMO_PASSWORDS[user]!))).resolves.toBeGreaterThanOrEqual(0);
    await expect(loginAndCount(imap(other, user, DEMO_PASSWORDS[user]!))).rejects.toMatchObject({ authenticationFailed: true });
  });

  it('POP3 USER/PASS works (raw transcript)', async () => {
    const pop = await Transcript.open(upstreams.mbox2.host, upstreams.mbox2.pop3Port);
    try {
      const [greeting] = await pop.readUntil(() => true);
      expect(greeting).toMatch(/^\+OK /);
      expect(await pop.pop('USER bob@example.com')).toMatch(/^\+OK/);
      expect(await pop.pop('PASS bob-secret')).toMatch(/^\+OK Logged in/);
      expect(await pop.pop('STAT')).toBe('+OK 1 2048');
      pop.send('RETR 1');
      const lines = await pop.readUntil((line) => line === '.');
      expect(lines[0]).toMatch(/^\+OK/);
      const body = Buffer.from(`${lines.slice(1, -1).join('\r\n')}\r\n`, 'latin1');
      expect(body.equals(upstreams.mbox2.messages.get('bob@example.com')![0]!)).toBe(true);
      expect(await pop.pop('QUIT')).toMatch(/^\+OK/);
    } finally {
      pop.close();
    }
  });

  it('POP3 refuses a user of the other server and works over POP3S with the test CA', async () => {
    const plain = await Transcript.open(upstreams.mbox2.host, upstreams.mbox2.pop3Port);
    try {
      await plain.readUntil(() => true);
      await plain.pop('USER alice@example.com');
      expect(await plain.pop('PASS alice-secret')).toMatch(/^-ERR/);
    } finally {
      plain.close();
    }
    const secure = await Transcript.open(upstreams.mbox1.host, upstreams.mbox1.pop3sPort!, { ca: upstreams.certificate!.caPem });
    try {
      await secure.readUntil(() => true);
      await secure.pop('USER alice@example.com');
      expect(await secure.pop('PASS alice-secret')).toMatch(/^\+OK Logged in/);
      expect(await secure.pop('STAT')).toBe(`+OK 3 ${ONE_MB + 2 * SMALL}`);
      await secure.pop('QUIT');
    } finally {
      secure.close();
    }
  });

  it('a pre-filled 1 MB message is fetched byte for byte', async () => {
    const expected = upstreams.mbox1.messages.get('alice@example.com')![0]!;
    expect(expected.length).toBe(ONE_MB);
    expect(expected.equals(generateMessage({ user: 'alice@example.com', index: 0, sizeBytes: ONE_MB }))).toBe(true);
    const client = imap(upstreams.mbox1, 'alice@example.com', 'alice-secret');
    await client.connect();
    try {
      await client.mailboxOpen('INBOX');
      const message = await client.fetchOne('1', { source: true, size: true, uid: true });
      expect(message).not.toBe(false);
      if (message === false) return;
      expect(message.size).toBe(ONE_MB);
      expect(message.source?.length).toBe(ONE_MB);
      expect(message.source?.equals(expected)).toBe(true);
      expect(message.source?.equals(readFileSync(upstreams.messagePath('alice@example.com', 1)))).toBe(true);
      const small = await client.fetchOne('3', { source: true });
      expect(small !== false && small.source?.equals(upstreams.mbox1.messages.get('alice@example.com')![2]!)).toBe(true);
    } finally {
      await client.logout();
    }
  });

  it('ID X-ORIGINATING-IP from a trusted proxy address becomes the client IP in the log', async () => {
    const server = upstreams.mbox1;
    const raw = await Transcript.open(server.host, server.imapPort);
    try {
      await raw.readUntil((line) => line.startsWith('* OK'));
      const id = await raw.command('a1', 'ID ("X-ORIGINATING-IP" "198.51.100.7" "X-ORIGINATING-PORT" "40123" "name" "postern-harness-test")');
      expect(id.at(-1)).toMatch(/^a1 OK/);
      expect((await raw.command('a2', 'LOGIN alice@example.com alice-secret')).at(-1)).toMatch(/^a2 OK/);
      expect((await raw.command('a3', 'LOGOUT')).at(-1)).toMatch(/^a3 OK/);
    } finally {
      raw.close();
    }
    const idLine = await server.waitForLog(/ID sent: .*name=postern-harness-test/);
    expect(idLine).toContain('X-ORIGINATING-IP=198.51.100.7');
    const login = await server.waitForLog(/Login: user=<alice@example.com>.*rport=40123/);
    expect(login).toContain('rip=198.51.100.7');
  });

  it('POP3 XCLIENT ADDR from a trusted proxy address becomes the client IP in the log', async () => {
    const server = upstreams.mbox2;
    const pop = await Transcript.open(server.host, server.pop3Port);
    try {
      const [greeting] = await pop.readUntil(() => true);
      // Dovecot advertises XCLIENT in the greeting only to login_trusted_networks.
      expect(greeting).toContain('[XCLIENT]');
      expect(await pop.pop('XCLIENT ADDR=198.51.100.8 PORT=40124')).toMatch(/^\+OK/);
      await pop.pop('USER carol@example.org');
      expect(await pop.pop('PASS carol-secret')).toMatch(/^\+OK/);
      await pop.pop('QUIT');
    } finally {
      pop.close();
    }
    const login = await server.waitForLog(/pop3-login: Info: Login: user=<carol@example.org>.*rport=40124/);
    expect(login).toContain('rip=198.51.100.8');
  });
});

describe('a single instance', () => {
  it('ignores X-ORIGINATING-IP from an untrusted address', async () => {
    const server = await startDovecot({
      name: 'untrusting',
      host: '127.0.0.4',
      users: [{ user: 'dave@example.com', password: 'dave-secret' }],
      trustedNetworks: ['192.0.2.0/24'],
    });
    try {
      const raw = await Transcript.open(server.host, server.imapPort);
      try {
        const [greeting] = await raw.readUntil((line) => line.startsWith('* OK'));
        expect(greeting).toContain('untrusting');
        expect(greeting).not.toContain('XCLIENT');
        await raw.command('a1', 'ID ("X-ORIGINATING-IP" "198.51.100.7" "X-ORIGINATING-PORT" "40125")');
        expect((await raw.command('a2', 'LOGIN dave@example.com dave-secret')).at(-1)).toMatch(/^a2 OK/);
        await raw.command('a3', 'LOGOUT');
      } finally {
        raw.close();
      }
      const login = await server.waitForLog(/Login: user=<dave@example.com>/);
      expect(login).toContain('rip=127.0.0.1');
      expect(login).not.toContain('198.51.100.7');
    } finally {
      await server.stop();
    }
  });

  it('stops cleanly, restarts on the same ports (keeping mail while running; fresh after a stop)', async () => {
    const server = await startDovecot({
      name: 'restarting',
      host: '127.0.0.5',
      users: [{ user: 'dave@example.com', password: 'dave-secret' }],
      messages: [{ user: 'dave@example.com', count: 2, sizeBytes: 4096 }],
    });
    const count = () => loginAndCount(imap(server, 'dave@example.com', 'dave-secret'));
    try {
      expect(readFileSync(server.messagePath('dave@example.com', 2)).equals(server.messages.get('dave@example.com')![1]!)).toBe(true);
      // A third message, appended over IMAP.
      const client = imap(server, 'dave@example.com', 'dave-secret');
      await client.connect();
      await client.append('INBOX', Buffer.from('Subject: appended\r\n\r\nhello\r\n'));
      await client.logout();
      expect(await count()).toBe(3);

      const { pid, dir } = { pid: server.process.pid, dir: server.dir };
      await server.restart();
      expect(server.process.pid).not.toBe(pid);
      expect(server.dir).toBe(dir);
      expect(await count()).toBe(3);

      await server.stop();
      expect(server.process.exited).toBe(true);
      // The scratch directory is gone; the log is still readable from memory.
      expect(existsSync(dir)).toBe(false);
      expect(server.readLog()).toContain('Login: user=<dave@example.com>');

      await server.restart();
      expect(server.dir).not.toBe(dir);
      expect(await count()).toBe(2);
      // The log of the earlier runs is kept in front of the new one.
      expect(server.readLog().match(/starting up for imap, pop3/g)).toHaveLength(3);
    } finally {
      await server.stop();
    }
    expect(existsSync(server.dir)).toBe(false);
  });
});

describe('the directory fixture with the real ports', () => {
  const expectPorts = async (backend: DirectoryBackend) => {
    const entries = await backend.search('(objectClass=zimbraServer)', { base: BASE_DN });
    const byName = new Map(entries.map((e) => [attr(e.attributes, 'cn'), e.attributes]));
    for (const server of upstreams.servers) {
      const attributes = byName.get(server.name)!;
      expect(attr(attributes, 'zimbraServiceHostname')).toBe(server.host);
      expect(attr(attributes, 'zimbraImapBindPort')).toBe(String(server.imapPort));
      expect(attr(attributes, 'zimbraImapSSLBindPort')).toBe(String(server.imapsPort));
      expect(attr(attributes, 'zimbraPop3BindPort')).toBe(String(server.pop3Port));
      expect(attr(attributes, 'zimbraPop3SSLBindPort')).toBe(String(server.pop3sPort));
    }
    // The global fallback is untouched (mbox2 got its own zimbraPop3SSLBindPort instead).
    const [config] = await backend.search('(objectClass=zimbraGlobalConfig)', { base: BASE_DN });
    expect(attr(config!.attributes, 'zimbraPop3SSLBindPort')).toBe('7995');
    expect(attr(config!.attributes, 'zimbraImapBindPort')).toBe('7143');
    // And the accounts are those of the fixture.
    const alice = await backend.search('(zimbraMailDeliveryAddress=alice@example.com)', { base: BASE_DN });
    expect(attr(alice[0]!.attributes, 'zimbraMailHost')).toBe(MAILBOX_HOSTS.mbox1);
  };

  it('loads into LdifDirectory.fromString', async () => {
    expect(directoryLdifFor(upstreams)).toBe(upstreams.ldif);
    expect(directoryLdifFor(upstreams.servers)).toBe(upstreams.ldif);
    const directory = LdifDirectory.fromString(upstreams.ldif, { baseDn: BASE_DN });
    try {
      await expectPorts(directory);
    } finally {
      await directory.close();
    }
  });

  it.each(['fixture', 'ldifFiles'] as const)('loads into slapd (%s option)', async (how) => {
    const slapd = await startSlapd(how === 'fixture' ? { fixture: directoryLdifFor(upstreams) } : { ldifFiles: [upstreams.ldifFile] });
    const directory = new LdapDirectory({ urls: [slapd.url], baseDn: slapd.baseDn, bindDn: slapd.rootDn, bindPassword: slapd.rootPassword });
    try {
      await expectPorts(directory);
    } finally {
      await directory.close();
      await slapd.stop();
    }
  });
});
