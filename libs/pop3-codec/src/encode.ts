/**
 * POP3 encoders: replies to the client and commands to the upstream.
 *
 * RFC 1939 §3 (+OK/-ERR, multi-line responses and dot-stuffing), RFC 2449 §8 (response codes,
 * IN-USE, LOGIN-DELAY), RFC 3206 (SYS/TEMP, SYS/PERM, AUTH), RFC 5034 §4 (AUTH, `+ ` continuation,
 * 255-octet limit on an initial response). XOIP is Zimbra's (originating IP, once per session).
 *
 * Encoders throw TypeError on text that would break framing (CR, LF, NUL): a caller bug.
 */
import type { SecretValue } from './secret';

/** Response codes in use (RFC 2449 §8.1, RFC 3206 §4–5); extension codes are accepted too. */
export type Pop3ResponseCode = 'IN-USE' | 'LOGIN-DELAY' | 'SYS/TEMP' | 'SYS/PERM' | 'AUTH' | (string & {});

/** RFC 5034 §4: the AUTH command with its initial response must fit in 255 octets. */
export const POP3_AUTH_LINE_MAX = 255;

function checkText(text: string, what: string): void {
  if (/[\r\n\0]/.test(text)) throw new TypeError(`${what} contains CR, LF or NUL`);
}

function status(indicator: '+OK' | '-ERR', text: string, code?: Pop3ResponseCode): Uint8Array {
  checkText(text, 'response text');
  let line = indicator;
  if (code !== undefined) {
    // RFC 2449 §8: resp-code = "[" resp-level *("/" resp-level) "]", resp-level = 1*<CHAR except "/" and "]">
    if (!/^[A-Za-z0-9-]+(?:\/[A-Za-z0-9-]+)*$/.test(code)) throw new TypeError('invalid response code');
    line += ` [${code}]`;
  }
  if (text.length > 0) line += ` ${text}`;
  return Buffer.from(`${line}\r\n`, 'utf8');
}

/** `+OK [code] text` CRLF. */
export function encodeOk(text = '', code?: Pop3ResponseCode): Uint8Array {
  return status('+OK', text, code);
}

/** `-ERR [code] text` CRLF, e.g. `encodeErr('try later', 'SYS/TEMP')`. */
export function encodeErr(text: string, code?: Pop3ResponseCode): Uint8Array {
  return status('-ERR', text, code);
}

/** `+OK first` CRLF, the lines dot-stuffed (a leading `.` doubled), then `.` CRLF. */
export function encodeMultiline(first: string, lines: readonly string[]): Uint8Array {
  const parts: Uint8Array[] = [encodeOk(first)];
  for (const line of lines) {
    checkText(line, 'multi-line response line');
    parts.push(Buffer.from(`${line.startsWith('.') ? '.' : ''}${line}\r\n`, 'utf8'));
  }
  parts.push(Buffer.from('.\r\n'));
  return Buffer.concat(parts);
}

/** `+ base64` CRLF: a SASL challenge (RFC 5034 §4); empty for PLAIN's empty challenge. */
export function encodeContinuation(base64 = ''): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) throw new TypeError('challenge is not base64');
  return Buffer.from(`+ ${base64}\r\n`, 'latin1');
}

function command(keyword: string, arg?: Uint8Array | string): Uint8Array {
  if (arg === undefined) return Buffer.from(`${keyword}\r\n`, 'latin1');
  const bytes = typeof arg === 'string' ? Buffer.from(arg, 'utf8') : arg;
  if (bytes.includes(0x0d) || bytes.includes(0x0a) || bytes.includes(0)) throw new TypeError(`${keyword} argument contains CR, LF or NUL`);
  return Buffer.concat([Buffer.from(`${keyword} `, 'latin1'), bytes, Buffer.from('\r\n')]);
}

/** `USER name` CRLF (upstream). The name must not contain a space (RFC 1939 §7). */
export function encodeUser(name: string): Uint8Array {
  if (name.length === 0 || name.includes(' ')) throw new TypeError('USER name is empty or has a space');
  return command('USER', name);
}

/** `PASS password` CRLF (upstream); bytes are sent as they are (spaces allowed), never an empty one. */
export function encodePass(password: string | Uint8Array | SecretValue): Uint8Array {
  const bytes = typeof password === 'string' ? Buffer.from(password, 'utf8') : password instanceof Uint8Array ? password : password.bytes();
  // `PASS` with nothing after it is no password at all (RFC 1939 §7 requires the argument).
  if (bytes.length === 0) throw new TypeError('PASS needs a password');
  return command('PASS', bytes);
}

/**
 * `AUTH mechanism [initial-response]` for the upstream. Returns the writes: one when the initial
 * response fits the 255-octet line (RFC 5034 §4), else `AUTH mech` then, after the upstream's `+ `,
 * the response on its own line. An empty initial response is sent as `=`.
 */
export function encodeAuth(mechanism: string, initialResponse?: string): Uint8Array[] {
  if (!/^[A-Za-z0-9_-]{1,20}$/.test(mechanism)) throw new TypeError('invalid SASL mechanism name');
  if (initialResponse === undefined) return [command('AUTH', mechanism)];
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(initialResponse)) throw new TypeError('initial response is not base64');
  const one = command('AUTH', `${mechanism} ${initialResponse === '' ? '=' : initialResponse}`);
  if (one.length <= POP3_AUTH_LINE_MAX) return [one];
  return [command('AUTH', mechanism), Buffer.from(`${initialResponse}\r\n`, 'latin1')];
}

/** `AUTH PLAIN <base64>` (see {@link encodeAuth}); build the base64 with `encodeSaslPlain` of the IMAP codec. */
export function encodeAuthPlain(initialResponse: string): Uint8Array[] {
  return encodeAuth('PLAIN', initialResponse);
}

/** `XOIP <ip>` CRLF: Zimbra's originating-IP command, sent before USER/AUTH. */
export function encodeXoip(ip: string): Uint8Array {
  // IPv4, IPv6 (with an optional zone would be odd here): hex digits, dots and colons only.
  if (!/^[0-9A-Fa-f.:]{2,45}$/.test(ip)) throw new TypeError('not an IP address');
  return command('XOIP', ip);
}

/**
 * `XCLIENT ADDR=<ip> PORT=<port>` CRLF: the client's address for servers that announce `[XCLIENT]`
 * in their greeting (Dovecot's POP3 proxy extension, after Postfix's XCLIENT).
 */
export function encodeXclient(ip: string, port: number): Uint8Array {
  if (!/^[0-9A-Fa-f.:]{2,45}$/.test(ip)) throw new TypeError('not an IP address');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError('not a port');
  return command('XCLIENT', `ADDR=${ip} PORT=${port}`);
}

/** `CAPA` CRLF (upstream, answered by a multi-line response: call `expectMultiline()` first). */
export function encodeCapa(): Uint8Array {
  return command('CAPA');
}
