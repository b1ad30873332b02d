/** Maps `@postern/pop3-codec` (and the SASL helpers of `@postern/imap-codec`) onto the session's terms. */
import { looksLikeHttp, parseSaslResponseLine } from '@postern/imap-codec';
import { Pop3CommandFramer, Pop3ResponseReader, parsePop3Command, type Pop3Command, type Pop3FramerEvent } from '@postern/pop3-codec';
import type { ResponseReader } from '../conversation';
import { Limits } from '../limits';
import { haltingDecoder, type ClientDecoder } from '../halting-decoder';
import type { Pop3ClientCommand, Pop3Input, Pop3UpstreamEvent } from './pop3-wire';

export { decodePlain, encodeSaslResponse } from '../imap/imap-wire.adapter';

/** Inputs after which the decoder halts (see halting-decoder.ts). */
const HALTING_COMMANDS = new Set(['STLS', 'PASS', 'AUTH', 'QUIT']);
const halts = (input: Pop3Input) => input.kind === 'sasl-line' || input.kind === 'http' || (input.kind === 'command' && HALTING_COMMANDS.has(input.command.name));

export function createPop3Decoder(): ClientDecoder<Pop3Input> {
  // RFC 2449 §4 caps command lines at 255 octets, which leaves no room for a long password in
  // `PASS`; the proxy takes any password up to its own limit, as Dovecot and Zimbra do.
  const framer = new Pop3CommandFramer({ maxLineBytes: Limits.passwordBytes + 16 });
  return haltingDecoder(framer, toInput, halts);
}

function toInput(event: Pop3FramerEvent): Pop3Input {
  switch (event.type) {
    case 'raw-line':
      return { kind: 'sasl-line', response: parseSaslResponseLine(event.line) };
    case 'error':
      return { kind: 'limit', limit: event.reason, fatal: event.fatal };
    case 'line': {
      if (looksLikeHttp(event.line)) return { kind: 'http' };
      const parsed = parsePop3Command(event.line);
      if (!parsed.ok) return { kind: 'bad', reason: parsed.reason };
      return { kind: 'command', command: toCommand(parsed.command) };
    }
  }
}

function toCommand(command: Pop3Command): Pop3ClientCommand {
  switch (command.name) {
    case 'USER':
    case 'PASS':
    case 'AUTH':
      return command;
    case 'APOP':
      return { name: 'APOP' };
    case 'UNKNOWN':
      return { name: 'UNKNOWN', verb: command.keyword };
    default:
      return { name: command.name };
  }
}

export function createPop3UpstreamReader(): ResponseReader<Pop3UpstreamEvent> {
  const reader = new Pop3ResponseReader();
  return {
    push(chunk) {
      reader.push(chunk);
      const out: Pop3UpstreamEvent[] = [];
      for (let event = reader.next(); event; event = reader.next()) {
        switch (event.type) {
          case 'ok':
          case 'err':
            out.push({ kind: event.type, code: event.code, text: event.text, raw: event.raw });
            break;
          case 'continuation':
            out.push({ kind: 'continuation', text: event.text, raw: event.raw });
            break;
          case 'multiline':
            // Never asked for during a login; treated as the +OK it starts with.
            out.push({ kind: 'ok', code: event.code, text: event.text, raw: event.raw });
            break;
          case 'error':
            if (event.fatal) throw new Error(`upstream reply: ${event.reason}`);
        }
      }
      return out;
    },
    drainBuffered: () => reader.drainBuffered(),
  };
}
