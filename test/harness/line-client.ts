/**
 * A raw line-oriented client for protocol transcripts in tests (IMAP, POP3): send exactly these
 * bytes, read exactly those lines, upgrade to TLS mid-session. Every read is bounded.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface LineClientOptions {
  readonly host?: string;
  readonly port: number;
  /** Connect with TLS from the first byte (IMAPS, POP3S). */
  readonly tls?: boolean;
  /** CA to verify the server with; without it the certificate is not verified. */
  readonly ca?: string;
  readonly servername?: string;
  /** Source address of a plain connection (any 127.x.y.z works on loopback): tests that need clients from several addresses. */
  readonly localAddress?: string;
  /** Longest wait for one line. */
  readonly timeoutMs?: number;
}

export class LineClient {
  private buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  private closed = false;
  private constructor(
    private socket: Socket | TLSSocket,
    private readonly options: LineClientOptions,
  ) {
    this.attach(socket);
  }

  static connect(options: LineClientOptions): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const host = options.host ?? '127.0.0.1';
      const onReady = () => {
        socket.off('error', reject);
        resolve(new LineClient(socket, options));
      };
      const socket: Socket = options.tls
        ? tlsConnect({ host, port: options.port, ca: options.ca, rejectUnauthorized: options.ca !== undefined, servername: options.servername }, onReady)
        : netConnect({ host, port: options.port, localAddress: options.localAddress }, onReady);
      socket.setNoDelay(true);
      socket.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }
  get tlsSocket(): TLSSocket | undefined {
    return 'encrypted' in this.socket ? this.socket : undefined;
  }

  send(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** Reads one CRLF-terminated line (without the CRLF). Rejects on timeout or when the server closed. */
  async line(timeoutMs = this.options.timeoutMs ?? 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.buffer.indexOf('\r\n');
      if (at >= 0) {
        const line = this.buffer.subarray(0, at).toString('utf8');
        this.buffer = this.buffer.subarray(at + 2);
        return line;
      }
      if (this.closed) throw new Error(`connection closed (unread: ${JSON.stringify(this.buffer.toString('utf8').slice(0, 200))})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no line within ${timeoutMs} ms (unread: ${JSON.stringify(this.buffer.toString('utf8').slice(0, 200))})`);
      await this.wait(left);
    }
  }

  /** Reads exactly `n` bytes. */
  async bytes(n: number, timeoutMs = this.options.timeoutMs ?? 10_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buffer.length < n) {
      if (this.closed) throw new Error('connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${n} bytes within ${timeoutMs} ms`);
      await this.wait(left);
    }
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return Buffer.from(out);
  }

  /** Reads lines up to and including the one starting with `prefix` (an IMAP tag followed by a space, or `+OK`/`-ERR`). */
  async until(prefix: string, timeoutMs?: number): Promise<string[]> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.line(timeoutMs);
      lines.push(line);
      if (line.startsWith(prefix)) return lines;
    }
  }

  /** Resolves once the server has closed the connection (or rejects after `timeoutMs`). */
  async closedByServer(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`server did not close within ${timeoutMs} ms`);
      await this.wait(left);
    }
  }

  /** Upgrades the connection to TLS (after STARTTLS/STLS was accepted). */
  async startTls(): Promise<void> {
    const raw = this.socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    const secure = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ socket: raw, ca: this.options.ca, rejectUnauthorized: this.options.ca !== undefined, servername: this.options.servername }, () =>
        resolve(s),
      );
      s.once('error', reject);
    });
    this.socket = secure;
    this.attach(secure);
  }

  /** Sends FIN (`shutdown(SHUT_WR)`, what `nc -N` does): nothing more is sent, replies can still arrive. */
  halfClose(): void {
    this.socket.end();
  }

  close(): void {
    this.socket.destroy();
  }

  private attach(socket: Socket): void {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
