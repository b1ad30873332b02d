/**
 * A minimal, fast IMAP mailbox server for benchmarks: it does nothing a login does not need, so a
 * proxy in front of it is measured against a floor rather than against a mailbox server's own
 * login work (Dovecot forks, checks the password, opens the mailbox).
 *
 * It speaks just enough IMAP4rev1 for a proxy's upstream dialogue and a client's session:
 *   greeting  `* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ ID AUTH=PLAIN] ready`
 *   CAPABILITY, NOOP, ID, LOGIN, AUTHENTICATE PLAIN (SASL-IR or continuation), SELECT/EXAMINE,
 *   FETCH / UID FETCH (always message 1: a fixed body), LOGOUT; anything else gets BAD.
 * Every user exists; the password of `local@domain` is `local-secret` (as on the demo mailbox
 * servers), anything else is refused with NO.
 *
 * Arguments may be atoms, quoted strings or literals. A synchronizing literal (`{n}`, what nginx
 * sends) is answered with a continuation; a non-synchronizing one (`{n+}`, what Postern sends when
 * LITERAL+ is announced) is read straight on.
 *
 * Runs as its own process (see imap-standin.main.ts and {@link startImapStandin}), so that its
 * sockets and its event loop are not the load generator's.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { startTsChild, type TsChild } from './ts-child';

export const STANDIN_CAPABILITIES = 'IMAP4rev1 SASL-IR LITERAL+ ID AUTH=PLAIN';
/** The user the stand-in's one message is generated for (see generateMessage in test/harness). */
export const STANDIN_MESSAGE_USER = 'standin@example.com';

const GREETING = `* OK [CAPABILITY ${STANDIN_CAPABILITIES}] Postern bench stand-in ready\r\n`;
const CRLF = Buffer.from('\r\n');
/** Longest command line and literal accepted: far above a login, far below anything harmful. */
const MAX_LINE_BYTES = 64 * 1024;
const MAX_LITERAL_BYTES = 64 * 1024;

/** The password the stand-in accepts for `user`: `<local part>-secret`. */
export function standinPassword(user: string): string {
  const at = user.lastIndexOf('@');
  return `${at < 0 ? user : user.slice(0, at)}-secret`;
}

export interface ImapStandinOptions {
  readonly host: string;
  /** 0 (the default): a port from the kernel. */
  readonly port?: number;
  /** What FETCH returns as BODY[] of message 1. */
  readonly message: Buffer;
}

export interface ImapStandinServer {
  readonly server: Server;
  readonly host: string;
  readonly port: number;
}

/** Starts the stand-in in this process. */
export function createImapStandin(options: ImapStandinOptions): Promise<ImapStandinServer> {
  const server = createServer({ noDelay: true }, (socket) => new StandinConnection(socket, options.message));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // A deep backlog: benches open connections in bursts of hundreds.
    server.listen({ host: options.host, port: options.port ?? 0, backlog: 4096 }, () => {
      server.off('error', reject);
      const address = server.address();
      if (address === null || typeof address === 'string') return reject(new Error('stand-in: no address'));
      resolve({ server, host: options.host, port: address.port });
    });
  });
}

/** A part of a command being assembled: text of a line, or the bytes of a literal. */
type Part = string | Buffer;

class StandinConnection {
  private buffer: Buffer = Buffer.alloc(0);
  private parts: Part[] = [];
  /** Bytes of the literal being read, or -1. */
  private literal = -1;
  /** Tag of an AUTHENTICATE waiting for its SASL response line. */
  private saslTag: string | undefined;
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly message: Buffer,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.closed = true;
    });
    socket.write(GREETING);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    while (!this.closed) {
      if (this.literal >= 0) {
        if (this.buffer.length < this.literal) return;
        this.parts.push(Buffer.from(this.buffer.subarray(0, this.literal)));
        this.buffer = this.buffer.subarray(this.literal);
        this.literal = -1;
        continue;
      }
      const eol = this.buffer.indexOf(CRLF);
      if (eol < 0) {
        if (this.buffer.length > MAX_LINE_BYTES) this.bye('Line too long');
        return;
      }
      // latin1 keeps bytes one to one; atoms and quoted strings of a login are ASCII.
      const line = this.buffer.toString('latin1', 0, eol);
      this.buffer = this.buffer.subarray(eol + 2);
      if (this.saslTag !== undefined) {
        const tag = this.saslTag;
        this.saslTag = undefined;
        this.authenticatePlain(tag, line);
        continue;
      }
      const marker = /\{(\d+)(\+?)\}$/.exec(line);
      if (marker) {
        const size = Number(marker[1]);
        if (size > MAX_LITERAL_BYTES) return this.bye('Literal too large');
        this.parts.push(line.slice(0, marker.index));
        this.literal = size;
        if (marker[2] !== '+') this.socket.write('+ Ready for literal data\r\n');
        continue;
      }
      this.parts.push(line);
      const words = tokenize(this.parts);
      this.parts = [];
      this.execute(words);
    }
  }

  private execute(words: string[]): void {
    const [tag, verb, ...args] = words;
    if (tag === undefined || verb === undefined) return this.write('* BAD Missing tag or command\r\n');
    switch (verb.toUpperCase()) {
      case 'CAPABILITY':
        return this.write(`* CAPABILITY ${STANDIN_CAPABILITIES}\r\n${tag} OK Capability completed\r\n`);
      case 'NOOP':
        return this.write(`${tag} OK NOOP completed\r\n`);
      case 'ID':
        return this.write(`* ID ("name" "Postern bench stand-in")\r\n${tag} OK ID completed\r\n`);
      case 'LOGIN':
        return this.login(tag, args[0], args[1]);
      case 'AUTHENTICATE':
        if (args[0]?.toUpperCase() !== 'PLAIN') return this.write(`${tag} NO [CANNOT] Unsupported mechanism\r\n`);
        if (args[1] !== undefined) return this.authenticatePlain(tag, args[1]);
        this.saslTag = tag;
        return this.write('+ \r\n');
      case 'SELECT':
      case 'EXAMINE':
        return this.write(`* 1 EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen)\r\n* OK [UIDVALIDITY 1] UIDs valid\r\n${tag} OK [READ-WRITE] Select completed\r\n`);
      case 'FETCH':
        return this.fetch(tag, false);
      case 'UID':
        if (args[0]?.toUpperCase() === 'FETCH') return this.fetch(tag, true);
        return this.write(`${tag} BAD Unknown UID command\r\n`);
      case 'LOGOUT':
        this.write(`* BYE Logging out\r\n${tag} OK Logout completed\r\n`);
        this.closed = true;
        this.socket.end();
        return;
      default:
        return this.write(`${tag} BAD Unknown command\r\n`);
    }
  }

  private login(tag: string, user: string | undefined, password: string | undefined): void {
    if (user === undefined || password === undefined) return this.write(`${tag} BAD LOGIN needs a user and a password\r\n`);
    if (password !== standinPassword(user)) return this.write(`${tag} NO [AUTHENTICATIONFAILED] Authentication failed\r\n`);
    this.write(`${tag} OK [CAPABILITY ${STANDIN_CAPABILITIES}] Logged in\r\n`);
  }

  private authenticatePlain(tag: string, base64: string): void {
    if (base64 === '*') return this.write(`${tag} BAD Authentication aborted\r\n`);
    const fields = Buffer.from(base64, 'base64').toString('utf8').split('\0');
    if (fields.length !== 3) return this.write(`${tag} BAD Invalid SASL PLAIN response\r\n`);
    this.login(tag, fields[1], fields[2]);
  }

  /** Message 1 as `BODY[]`, whatever was asked for: the bench fetches exactly that. */
  private fetch(tag: string, uid: boolean): void {
    // cork: the prefix, the body and the trailer leave in as few segments as the kernel allows.
    this.socket.cork();
    this.write(`* 1 FETCH (${uid ? 'UID 1 ' : ''}BODY[] {${this.message.length}}\r\n`);
    this.socket.write(this.message);
    this.write(`)\r\n${tag} OK Fetch completed\r\n`);
    this.socket.uncork();
  }

  private write(text: string): void {
    if (!this.closed) this.socket.write(text);
  }

  private bye(text: string): void {
    this.write(`* BYE ${text}\r\n`);
    this.closed = true;
    this.socket.end();
  }
}

/**
 * The words of a command: atoms, quoted strings (unescaped) and literals (decoded as UTF-8), in
 * order. Parenthesised lists (ID's parameters) are flattened: nothing here needs their structure.
 */
export function tokenize(parts: readonly Part[]): string[] {
  const words: string[] = [];
  for (const part of parts) {
    if (typeof part !== 'string') {
      words.push(part.toString('utf8'));
      continue;
    }
    let i = 0;
    while (i < part.length) {
      const c = part[i]!;
      if (c === ' ' || c === '(' || c === ')') {
        i++;
      } else if (c === '"') {
        let word = '';
        for (i++; i < part.length && part[i] !== '"'; i++) word += part[i] === '\\' ? (part[++i] ?? '') : part[i];
        i++;
        words.push(word);
      } else {
        // An atom may hold a section with spaces (BODY[HEADER.FIELDS (A B)]): brackets keep it whole.
        let end = i;
        let depth = 0;
        for (; end < part.length; end++) {
          const ch = part[end];
          if (depth === 0 && (ch === ' ' || ch === '(' || ch === ')')) break;
          if (ch === '[') depth++;
          else if (ch === ']') depth = Math.max(0, depth - 1);
        }
        words.push(part.slice(i, end));
        i = end;
      }
    }
  }
  return words;
}

export interface ImapStandinProcess extends TsChild {
  readonly host: string;
}

/** Starts the stand-in as its own process on `host` (a loopback address) with a `messageBytes` message. */
export async function startImapStandin(options: { host: string; messageBytes: number }): Promise<ImapStandinProcess> {
  const child = await startTsChild('imap-standin', join(__dirname, 'imap-standin.main.ts'), [
    '--host',
    options.host,
    '--message-bytes',
    String(options.messageBytes),
  ]);
  return { ...child, host: options.host };
}
