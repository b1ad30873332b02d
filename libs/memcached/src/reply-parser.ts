/**
 * Parser for replies of the memcached text protocol (memcached `doc/protocol.txt`, "Commands":
 * retrieval, storage, deletion, increment/decrement). Bytes in, complete replies out; no I/O.
 *
 * Context-free: every reply the client can receive is either one line or `VALUE` blocks ended by
 * `END`, so the parser need not know which command is waiting. Input may be split at any byte.
 * A malformed stream throws {@link CacheProtocolError}; the parser is then unusable and the
 * connection must be reset, because the request/reply pairing can no longer be trusted.
 */
import { CacheProtocolError } from './errors';
import { MAX_CAS_DIGITS, MAX_KEY_BYTES, MAX_REPLY_LINE_BYTES, MAX_VALUE_BYTES } from './limits';

const CR = 0x0d;
const LF = 0x0a;
const EMPTY = Buffer.alloc(0);
const KEY_PATTERN = new RegExp(`^[A-Za-z0-9:._-]{1,${MAX_KEY_BYTES}}$`);
/** flags are a 32-bit unsigned integer in memcached 1.6. */
const MAX_FLAGS = 0xffff_ffff;

/** Single-line status replies. */
export type StatusWord = 'STORED' | 'NOT_STORED' | 'EXISTS' | 'NOT_FOUND' | 'DELETED' | 'TOUCHED' | 'OK';
const STATUS_WORDS: ReadonlySet<string> = new Set<StatusWord>(['STORED', 'NOT_STORED', 'EXISTS', 'NOT_FOUND', 'DELETED', 'TOUCHED', 'OK']);

/** One item of a retrieval reply. */
export interface ValueItem {
  readonly key: string;
  readonly flags: number;
  readonly value: Buffer;
  /** Present for `gets`. */
  readonly cas: string | null;
}

/** A complete reply. */
export type Reply =
  | { readonly type: 'values'; readonly items: readonly ValueItem[] }
  | { readonly type: 'status'; readonly status: StatusWord }
  | { readonly type: 'number'; readonly value: string }
  | { readonly type: 'error'; readonly kind: 'ERROR' | 'CLIENT_ERROR' | 'SERVER_ERROR'; readonly line: string };

interface ValueHeader {
  readonly key: string;
  readonly flags: number;
  readonly bytes: number;
  readonly cas: string | null;
}

/** Incremental parser; feed it every chunk read from one connection, in order. */
export class ReplyParser {
  private buffer: Buffer = EMPTY;
  /** Items of the retrieval reply being read; null between replies. */
  private items: ValueItem[] | null = null;
  /** Header of the data block being read. */
  private header: ValueHeader | null = null;

  constructor(private readonly maxValueBytes = MAX_VALUE_BYTES) {}

  /** True when no partial reply is buffered. */
  get idle(): boolean {
    return this.buffer.length === 0 && this.items === null && this.header === null;
  }

  /** Consumes a chunk and returns the replies it completed (possibly none). */
  feed(chunk: Buffer): Reply[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const replies: Reply[] = [];
    for (;;) {
      if (this.header !== null) {
        const { bytes } = this.header;
        if (this.buffer.length < bytes + 2) break;
        if (this.buffer[bytes] !== CR || this.buffer[bytes + 1] !== LF) {
          throw new CacheProtocolError('data block is not terminated by CRLF');
        }
        // Copy: a subarray would pin the whole read buffer for as long as the caller keeps the value.
        const value = Buffer.from(this.buffer.subarray(0, bytes));
        this.items?.push({ key: this.header.key, flags: this.header.flags, value, cas: this.header.cas });
        this.header = null;
        this.consume(bytes + 2);
        continue;
      }
      const lf = this.buffer.indexOf(LF);
      if (lf === -1) {
        if (this.buffer.length > MAX_REPLY_LINE_BYTES) throw new CacheProtocolError(`reply line longer than ${MAX_REPLY_LINE_BYTES} bytes`);
        break;
      }
      if (lf > MAX_REPLY_LINE_BYTES) throw new CacheProtocolError(`reply line longer than ${MAX_REPLY_LINE_BYTES} bytes`);
      if (lf === 0 || this.buffer[lf - 1] !== CR) throw new CacheProtocolError('reply line not terminated by CRLF');
      const line = this.buffer.toString('latin1', 0, lf - 1);
      this.consume(lf + 1);
      const reply = this.line(line);
      if (reply !== null) replies.push(reply);
    }
    return replies;
  }

  private consume(bytes: number): void {
    this.buffer = bytes >= this.buffer.length ? EMPTY : this.buffer.subarray(bytes);
  }

  private line(line: string): Reply | null {
    if (line === 'END') {
      const items = this.items ?? [];
      this.items = null;
      return { type: 'values', items };
    }
    if (line.startsWith('VALUE ')) {
      this.header = this.valueHeader(line);
      this.items ??= [];
      return null;
    }
    const error = errorReply(line);
    if (error !== null) {
      // memcached may abandon a retrieval reply with SERVER_ERROR (e.g. out of memory).
      this.items = null;
      return error;
    }
    if (this.items !== null) throw new CacheProtocolError(`unexpected line inside a retrieval reply: ${printable(line)}`);
    if (STATUS_WORDS.has(line)) return { type: 'status', status: line as StatusWord };
    // incr/decr answer the new value: an unsigned 64-bit integer.
    if (/^[0-9]{1,20}$/.test(line)) return { type: 'number', value: line };
    throw new CacheProtocolError(`unexpected reply: ${printable(line)}`);
  }

  private valueHeader(line: string): ValueHeader {
    const fields = line.split(' ');
    const [, key, flags, bytes, cas] = fields;
    if (fields.length < 4 || fields.length > 5 || key === undefined || flags === undefined || bytes === undefined) {
      throw new CacheProtocolError(`malformed VALUE line: ${printable(line)}`);
    }
    if (!KEY_PATTERN.test(key)) throw new CacheProtocolError('VALUE line carries an invalid key');
    if (!/^[0-9]{1,10}$/.test(flags) || Number(flags) > MAX_FLAGS) throw new CacheProtocolError('VALUE line carries invalid flags');
    if (!/^[0-9]{1,10}$/.test(bytes) || Number(bytes) > this.maxValueBytes) {
      throw new CacheProtocolError(`VALUE length invalid or above ${this.maxValueBytes} bytes`);
    }
    if (cas !== undefined && !new RegExp(`^[0-9]{1,${MAX_CAS_DIGITS}}$`).test(cas)) throw new CacheProtocolError('VALUE line carries an invalid CAS');
    return { key, flags: Number(flags), bytes: Number(bytes), cas: cas ?? null };
  }
}

function errorReply(line: string): Reply | null {
  if (line === 'ERROR') return { type: 'error', kind: 'ERROR', line };
  if (line === 'CLIENT_ERROR' || line.startsWith('CLIENT_ERROR ')) return { type: 'error', kind: 'CLIENT_ERROR', line };
  if (line === 'SERVER_ERROR' || line.startsWith('SERVER_ERROR ')) return { type: 'error', kind: 'SERVER_ERROR', line };
  return null;
}

/** A bounded, control-free rendering of a line for error messages. */
export function printable(line: string): string {
  // 80 characters identify a reply without copying a hostile payload into logs.
  return JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line);
}
