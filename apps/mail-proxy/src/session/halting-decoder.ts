/**
 * The client side of a pre-auth session, for either protocol: a pull-based framer from the codec
 * turned into inputs, one command at a time where it matters. After an input that changes how
 * the following bytes must be read (STARTTLS, a login, a SASL line) the decoder halts: the rest
 * stays raw in the framer and nothing more is decoded until the session calls `resume()`.
 *
 * So plaintext pipelined after STARTTLS is never executed (the session drains and drops it), a
 * SASL response is never read as a command, and bytes pipelined after a login reach the upstream
 * unchanged (the session drains them into the splice).
 */

/** What the codecs' command framers have in common. */
export interface PullFramer<Event> {
  push(chunk: Uint8Array): void;
  next(): Event | undefined;
  expectRawLine(): void;
  drainBuffered(): Uint8Array;
}

export interface ClientDecoder<Input> {
  /** Buffers client bytes; returns the inputs they complete, none while halted. */
  push(chunk: Uint8Array): Input[];
  /** Goes on after a halting input was handled and the session is back in the pre-auth dialogue. */
  resume(): Input[];
  /** After a SASL challenge: the next line is a response, returned if already buffered. */
  expectSaslLine(): Input[];
  /** Returns and forgets every byte not yet decoded. */
  drainBuffered(): Uint8Array;
}

export function haltingDecoder<Event, Input>(
  framer: PullFramer<Event>,
  toInput: (event: Event) => Input,
  halts: (input: Input) => boolean,
): ClientDecoder<Input> {
  return new HaltingDecoder(framer, toInput, halts);
}

/** A class, not closures over the framer: every held session keeps its decoder. */
class HaltingDecoder<Event, Input> implements ClientDecoder<Input> {
  private halted = false;

  constructor(
    private readonly framer: PullFramer<Event>,
    private readonly toInput: (event: Event) => Input,
    private readonly halts: (input: Input) => boolean,
  ) {}

  push(chunk: Uint8Array): Input[] {
    this.framer.push(chunk);
    return this.pull();
  }

  resume(): Input[] {
    this.halted = false;
    return this.pull();
  }

  expectSaslLine(): Input[] {
    this.framer.expectRawLine();
    this.halted = false;
    return this.pull();
  }

  drainBuffered(): Uint8Array {
    return this.framer.drainBuffered();
  }

  private pull(): Input[] {
    const out: Input[] = [];
    while (!this.halted) {
      const event = this.framer.next();
      if (event === undefined) break;
      const input = this.toInput(event);
      out.push(input);
      this.halted = this.halts(input);
    }
    return out;
  }
}
