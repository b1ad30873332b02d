/** Field schemas shared by several contracts. */
import { z } from 'zod';

/**
 * Longest login accepted anywhere (Zimbra's proxy limit for a login name: 256 bytes). The mail
 * frontend counts it in UTF-8 bytes as the client sent them; the schemas here in characters.
 * Longer names are refused before they reach the directory, the cache or a log.
 */
export const MAX_LOGIN_LENGTH = 256;
/** Longest host name (RFC 1035 §2.3.4: 255 octets). */
export const MAX_HOSTNAME_LENGTH = 255;

// C0 controls, DEL and C1 controls: never legitimate in a login or a host name, and the
// characters that break line-based protocols (memcached, IMAP, logs).
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** The protocols a route is looked up for; `*ssl` means the proxy talks TLS to the upstream. */
export const RouteProtocolSchema = z.enum(['imap', 'imapssl', 'pop3', 'pop3ssl', 'http', 'httpssl']);
export type RouteProtocol = z.infer<typeof RouteProtocolSchema>;

/** A client-facing mail protocol, as counted by the throttle. */
export const LoginProtocolSchema = z.enum(['imap', 'pop3', 'http']);
export type LoginProtocol = z.infer<typeof LoginProtocolSchema>;

/** A user name as typed by a client: bounded, no control characters, no surrounding space. */
export const LoginSchema = z
  .string()
  .min(1)
  .max(MAX_LOGIN_LENGTH)
  .refine((s) => !CONTROL.test(s), 'must not contain control characters')
  .refine((s) => s.trim() === s, 'must not start or end with white space');

/**
 * Whether {@link LoginSchema} accepts `value`, without zod: the mail frontend asks it of every
 * login, where a schema's parse (its issues, its result object) cost several microseconds.
 */
export function isLogin(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0) return false;
  // The schema's bound is in code points: a name over it in UTF-16 units may still fit.
  if (value.length > MAX_LOGIN_LENGTH && codePoints(value) > MAX_LOGIN_LENGTH) return false;
  return !CONTROL.test(value) && value.trim() === value;
}

/** Code points of `text`, a surrogate pair counting one (as zod's length checks count). */
function codePoints(text: string): number {
  let count = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    if ((text.charCodeAt(i) & 0xfc00) === 0xd800 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      count--;
      i++;
    }
  }
  return count;
}

/** An IPv4 or IPv6 address in text form (no port, no brackets). */
export const IpAddressSchema = z.union([z.ipv4(), z.ipv6()]);

/** A DNS host name or an IP address: what a route's host may be. */
export const HostSchema = z
  .string()
  .min(1)
  .max(MAX_HOSTNAME_LENGTH)
  .regex(/^[A-Za-z0-9._:-]+$/, 'must be a host name or an IP address');

/** A virtual host as sent in an HTTP Host header or TLS SNI (port stripped). */
export const VirtualHostSchema = z
  .string()
  .min(1)
  .max(MAX_HOSTNAME_LENGTH)
  .regex(/^[A-Za-z0-9.-]+$/, 'must be a host name');

export const PortSchema = z.number().int().min(1).max(65535);

/** A correlation id carried from the frontend's session into every log line of the request. */
export const RequestIdSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/);
