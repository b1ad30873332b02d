/** Maps `@postern/imap-codec` onto the session's terms (see imap-wire.ts). */
import {
  decodeSaslPlain,
  encodeCommand,
  encodeIdCommand as encodeIdChunks,
  encodeLoginCommand,
  ImapCommandFramer,
  ImapResponseReader,
  looksLikeHttp,
  parseCapabilities as parseCapabilityText,
  parseCommand,
  parseSaslResponseLine,
  encodeSaslPlain,
  type ImapCommand,
  type ImapFramerEvent,
  type SecretValue,
} from '@postern/imap-codec';
import { Limits } from '../limits';
import type { ResponseReader } from '../conversation';
import { haltingDecoder, type ClientDecoder } from '../halting-decoder';
import type { ClientInput, ImapClientCommand, UpstreamEvent } from './imap-wire';

export { encodeIdResponse } from '@postern/imap-codec';

/** Inputs after which the decoder halts (see halting-decoder.ts). */
const HALTING_COMMANDS = new Set(['STARTTLS', 'LOGIN', 'AUTHENTICATE', 'LOGOUT']);
const halts = (input: ClientInput) => input.kind === 'sasl-line' || input.kind === 'http' || (input.kind === 'command' && HALTING_COMMANDS.has(input.command.name));

export function createClientDecoder(): ClientDecoder<ClientInput> {
  const framer = new ImapCommandFramer({ maxLineBytes: Limits.preAuthLineBytes, maxLiteralBytes: Limits.preAuthLiteralBytes });
  return haltingDecoder(framer, toInput, halts);
}

function toInput(event: ImapFramerEvent): ClientInput {
  switch (event.type) {
    case 'continue':
      return { kind: 'continue' };
    case 'raw-line':
      return { kind: 'sasl-line', response: parseSaslResponseLine(event.line) };
    case 'error':
      return event.reason === 'bad-literal'
        ? { kind: 'bad', tag: event.tag, message: 'Invalid literal' }
        : { kind: 'limit', limit: event.reason, tag: event.tag, fatal: event.fatal };
    case 'command': {
      const first = event.frame.segments[0];
      if (first && looksLikeHttp(first)) return { kind: 'http' };
      const parsed = parseCommand(event.frame);
      if (!parsed.ok) return { kind: 'bad', tag: parsed.tag, message: parsed.message };
      return { kind: 'command', tag: parsed.command.tag, command: toCommand(parsed.command) };
    }
  }
}

function toCommand(command: ImapCommand): ImapClientCommand {
  switch (command.name) {
    case 'ID':
      return { name: 'ID', params: command.params?.map((p) => [p.key, p.value] as const) ?? null };
    case 'LOGIN':
      return { name: 'LOGIN', user: command.userid, password: command.password };
    case 'AUTHENTICATE':
      return { name: 'AUTHENTICATE', mechanism: command.mechanism, initialResponse: command.initialResponse };
    case 'UNKNOWN':
      return { name: 'UNKNOWN', verb: command.verb };
    default:
      return { name: command.name };
  }
}

/** A SASL PLAIN response decoded, or undefined when it is not a valid one. */
export function decodePlain(response: SecretValue): { authzid: string; authcid: string; password: SecretValue } | undefined {
  const decoded = decodeSaslPlain(response);
  return decoded.ok ? decoded.credentials : undefined;
}

/** The base64 PLAIN message the proxy sends upstream. */
export function encodeSaslResponse(authzid: string, authcid: string, password: SecretValue): string {
  return encodeSaslPlain({ authzid, authcid, password });
}

/** `tag AUTHENTICATE PLAIN [initial-response]`. */
export function encodeAuthenticatePlain(tag: string, initialResponse: string | undefined): Uint8Array {
  const args = initialResponse === undefined ? [{ atom: 'PLAIN' }] : [{ atom: 'PLAIN' }, { atom: initialResponse }];
  return encodeCommand(tag, 'AUTHENTICATE', args, { literalPlus: false })[0]!;
}

/** `tag LOGIN user password` as chunks: write the first, then each after the upstream's `+`. */
export function encodeLogin(tag: string, user: string, password: SecretValue, literalPlus: boolean): readonly Uint8Array[] {
  return encodeLoginCommand(tag, user, password.bytes(), { literalPlus });
}

/**
 * `tag ID (…)` in one line: values are made printable ASCII (the client's name and version come
 * from the client) and cut to the RFC 2971 bound, so no literal is ever needed.
 */
export function encodeIdCommand(tag: string, params: readonly (readonly [string, string])[]): Uint8Array {
  const clean = params.map(([key, value]) => ({ key, value: value.replace(/[^\x20-\x7e]|["\\]/g, '?').slice(0, 1024) }));
  return encodeIdChunks(tag, clean, { literalPlus: false })[0]!;
}

/** The capabilities a greeting announces in its `[CAPABILITY …]` code (upper-cased); empty without one. */
export function parseCapabilities(greeting: UpstreamEvent): Set<string> {
  if (greeting.kind === 'continuation' || greeting.code !== 'CAPABILITY') return new Set();
  return new Set(parseCapabilityText(greeting.codeText ?? ''));
}

export function createUpstreamReader(): ResponseReader<UpstreamEvent> {
  const reader = new ImapResponseReader({ maxLineBytes: Limits.upstreamLineBytes });
  return {
    push(chunk) {
      const out: UpstreamEvent[] = [];
      for (const event of reader.push(chunk)) {
        switch (event.type) {
          case 'untagged':
            out.push({ kind: 'untagged', status: event.status, code: event.code?.name, codeText: event.code?.text, text: event.text, raw: event.raw });
            break;
          case 'tagged':
            out.push({ kind: 'tagged', tag: event.tag, status: event.status, code: event.code?.name, codeText: event.code?.text, text: event.text, raw: event.raw });
            break;
          case 'continuation':
            out.push({ kind: 'continuation', text: event.text, raw: event.raw });
            break;
          case 'error':
            // A line that is no IMAP response is skipped; a stopped reader fails the login.
            if (event.fatal) throw new Error(`upstream response: ${event.reason}`);
        }
      }
      return out;
    },
    drainBuffered: () => reader.drainBuffered(),
  };
}
