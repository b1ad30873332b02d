/**
 * The load generator's IMAP client: a raw socket and a line splitter, no library, so that one event
 * loop drives many sessions and the client costs the same whichever server is measured (Dovecot,
 * the stand-in, Postern, nginx). Every wait is bounded by a deadline.
 *
 * Only what the benches send: LOGIN with atoms (as most clients do for plain names), LOGOUT, NOOP,
 * SELECT, and a FETCH whose one literal is collected as chunks (no copying while it streams in).
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
  /** Implicit TLS (IMAPS): set for a port that speaks TLS from the first byte. */
  readonly tls?: TlsResumption;
}

/**
 * A client's TLS for one server, as Thunderbird keeps it: the session from the last connection is
 * offered on the next (`session` to tls.connect), so that a server that issues tickets resumes
 * instead of signing a full handshake each time. The certificate is not verified (test CAs).
 */
export interface TlsResumption {
  /** SNI sent to the server. */
  readonly servername: string;
  /** The last session the server handed out (a TLS 1.3 ticket or a TLS 1.2 session). */
  session: Buffer | undefined;
  /** Connections that resumed, and those that did a full handshake. */
  resumed: number;
  full: number;
}

/** A fresh {@link TlsResumption} for `servername`. */
export function tlsResumption(servername: string): TlsResumption {
  return { servername, session: undefined, resumed: 0, full: 0 };
}

const CRLF = Buffer.from('\r\n');

/** A FETCH in progress: its tag, the literal's chunks, and what is left to parse. */
interface LiteralSink {
  readonly tag: string;
  /** Bytes before the literal (untagged lines, the line announcing `{size}`). */
  head: Buffer;
  /** The literal's size once announced, else -1. */
  size: number;
  received: number;
  readonly chunks: Buffer[];
  /** Text after the literal, up to the tagged reply. */
  trailer: string;
  done: boolean;
  error: Error | undefined;
}

export class BenchImapClient {
  private text = '';
  private sink: LiteralSink | undefined;
  private wake: (() => void) | undefined;
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      if (this.sink) this.feedLiteral(this.sink, chunk);
      else this.text += chunk.toString('latin1');
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }

  /** Connects; `deadline` is a `performance.now()` time. */
  static connect(endpoint: Endpoint, deadline: number): Promise<BenchImapClient> {
    return new Promise((resolve, reject) => {
      const tls = endpoint.tls;
      const raw = connect({ host: endpoint.host, port: endpoint.port, noDelay: true });
      const socket: Socket = tls
        ? tlsConnect({ socket: raw, servername: tls.servername, rejectUnauthorized: false, ...(tls.session ? { session: tls.session } : {}) })
        : raw;
      // TLS 1.3 tickets arrive after the handshake: the newest one is kept for the next connection.
      if (tls) socket.on('session', (session: Buffer) => (tls.session = session));
      const timer = setTimeout(
        () => {
          socket.destroy();
          reject(new Error(`no connection to ${endpoint.host}:${endpoint.port} in time`));
        },
        Math.max(0, deadline - performance.now()),
      );
      const fail = (error: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(error);
      };
      socket.once('error', fail);
      if (tls) raw.once('error', fail);
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        if (tls) {
          if ((socket as TLSSocket).isSessionReused()) tls.resumed++;
          else tls.full++;
        }
        socket.removeAllListeners('error');
        raw.removeListener('error', fail);
        resolve(new BenchImapClient(socket));
      });
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  send(text: string): void {
    this.socket.write(text);
  }

  /** One CRLF-terminated line, without the CRLF. */
  async line(deadline: number): Promise<string> {
    for (;;) {
      const eol = this.text.indexOf('\r\n');
      if (eol >= 0) {
        const line = this.text.slice(0, eol);
        this.text = this.text.slice(eol + 2);
        return line;
      }
      if (this.closed) throw new Error(`connection closed (unread: ${JSON.stringify(this.text.slice(0, 120))})`);
      await this.wait(deadline);
    }
  }

  /** Reads the greeting; throws unless it is `* OK`. */
  async greeting(deadline: number): Promise<string> {
    const line = await this.line(deadline);
    if (!line.startsWith('* OK')) throw new Error(`greeting: ${line}`);
    return line;
  }

  /** Sends `tag text` and reads up to the tagged reply; throws unless it is OK. */
  async command(tag: string, text: string, deadline: number): Promise<string> {
    this.send(`${tag} ${text}\r\n`);
    for (;;) {
      const line = await this.line(deadline);
      if (!line.startsWith(`${tag} `)) continue;
      if (!line.startsWith(`${tag} OK`)) throw new Error(`${text.split(' ')[0]}: ${line}`);
      return line;
    }
  }

  /** Sends a FETCH whose reply carries one literal (`BODY[]`) and returns the literal's bytes. */
  async fetchLiteral(tag: string, text: string, deadline: number): Promise<Buffer> {
    const sink: LiteralSink = { tag, head: Buffer.alloc(0), size: -1, received: 0, chunks: [], trailer: '', done: false, error: undefined };
    const unread = Buffer.from(this.text, 'latin1');
    this.text = '';
    this.sink = sink;
    this.send(`${tag} ${text}\r\n`);
    this.feedLiteral(sink, unread);
    try {
      while (!sink.done) {
        if (this.closed) throw new Error('connection closed during FETCH');
        await this.wait(deadline);
      }
    } finally {
      this.sink = undefined;
    }
    if (sink.error) throw sink.error;
    return Buffer.concat(sink.chunks, sink.size);
  }

  close(): void {
    this.socket.destroy();
  }

  /** The FETCH parser: lines up to the one ending in `{size}`, then `size` bytes kept as they arrived, then text up to the tagged line. */
  private feedLiteral(sink: LiteralSink, chunk: Buffer): void {
    let rest = chunk;
    if (sink.size < 0) {
      sink.head = sink.head.length === 0 ? chunk : Buffer.concat([sink.head, chunk]);
      for (;;) {
        const eol = sink.head.indexOf(CRLF);
        if (eol < 0) return;
        const line = sink.head.toString('latin1', 0, eol);
        sink.head = sink.head.subarray(eol + 2);
        if (line.startsWith(`${sink.tag} `)) {
          sink.error = new Error(`FETCH: ${line}`);
          sink.done = true;
          return;
        }
        const literal = /\{(\d+)\}$/.exec(line);
        if (literal) {
          sink.size = Number(literal[1]);
          rest = sink.head;
          sink.head = Buffer.alloc(0);
          break;
        }
      }
    }
    if (sink.received < sink.size && rest.length > 0) {
      const take = rest.subarray(0, sink.size - sink.received);
      sink.chunks.push(take);
      sink.received += take.length;
      rest = rest.subarray(take.length);
    }
    if (sink.received === sink.size && rest.length > 0) {
      sink.trailer += rest.toString('latin1');
      // The literal is followed by `)` CRLF, then the tagged reply.
      const at = sink.trailer.indexOf(`\r\n${sink.tag} `);
      const end = at < 0 ? -1 : sink.trailer.indexOf('\r\n', at + 2);
      if (end >= 0) {
        const reply = sink.trailer.slice(at + 2, end);
        if (!reply.startsWith(`${sink.tag} OK`)) sink.error = new Error(`FETCH: ${reply}`);
        sink.done = true;
      }
    }
  }

  private wait(deadline: number): Promise<void> {
    const left = deadline - performance.now();
    if (left <= 0) return Promise.reject(new Error(`no answer in time (unread: ${JSON.stringify(this.text.slice(0, 120))})`));
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, left);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}
