/**
 * A value that must never reach a log: passwords, SASL responses. Printing it, serialising it or
 * inspecting it yields `[redacted]`; the bytes come out only through an explicit `reveal()`/`bytes()`.
 */

const REDACTED = '[redacted]';

/** A secret argument of a command (password, SASL response). */
export interface SecretValue {
  /** Length in bytes. */
  readonly byteLength: number;
  /** The raw bytes (a copy): forward these upstream so non-UTF-8 passwords survive. */
  bytes(): Uint8Array;
  /** The value as UTF-8 text (invalid sequences become U+FFFD). */
  reveal(): string;
  /** Always `[redacted]`. */
  toString(): string;
  /** Always `[redacted]`. */
  toJSON(): string;
}

class Secret implements SecretValue {
  readonly #bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    // A copy by the typed-array constructor (one memcpy); Uint8Array.from walks the bytes one by one.
    this.#bytes = new Uint8Array(bytes);
  }
  get byteLength(): number {
    return this.#bytes.length;
  }
  bytes(): Uint8Array {
    return new Uint8Array(this.#bytes);
  }
  reveal(): string {
    return Buffer.from(this.#bytes).toString('utf8');
  }
  toString(): string {
    return REDACTED;
  }
  toJSON(): string {
    return REDACTED;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return REDACTED;
  }
}

/** Wraps bytes or text as a {@link SecretValue}. */
export function secret(value: Uint8Array | string): SecretValue {
  return new Secret(typeof value === 'string' ? Buffer.from(value, 'utf8') : value);
}

/** What a redacted secret prints as. */
export const REDACTED_TEXT = REDACTED;
