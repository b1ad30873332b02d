/**
 * Every size limit of the IMAP codec, each with the reason for its default. The framer, the grammar
 * and the response reader take these as constructor options; the defaults are the pre-authentication
 * values (after login the proxy splices bytes and no longer parses).
 *
 * RFC 9051 §4 (literals), RFC 7888 §4 (LITERAL+ limits), RFC 2971 §3.3 (ID limits), RFC 4616 §2 (PLAIN).
 */

/** Options of {@link ImapCommandFramer}. */
export interface ImapFramerLimits {
  /** Longest command line (one CRLF-terminated segment, CRLF excluded), in bytes. */
  readonly maxLineBytes: number;
  /** Longest line asked for with `expectRawLine()` (a SASL response), CRLF excluded, in bytes. */
  readonly maxRawLineBytes: number;
  /** Largest literal accepted, in bytes; a larger one is refused (`literal-too-large`). */
  readonly maxLiteralBytes: number;
  /** Largest whole command (all line segments plus all literals), in bytes. */
  readonly maxCommandBytes: number;
  /** Total bytes of over-limit non-synchronizing literals the framer will read and throw away (per connection) to stay in sync. */
  readonly maxDiscardBytes: number;
  /** Accept a bare LF as a line end (RFC 9051 §2.2 says CRLF). */
  readonly allowBareLf: boolean;
}

export const IMAP_FRAMER_DEFAULTS: ImapFramerLimits = {
  // Pre-auth commands are short (LOGIN, ID, AUTHENTICATE with a ~2 KiB SASL-IR); RFC 7162 §4 asks
  // servers to take 8192-octet lines, which covers them all with room to spare.
  maxLineBytes: 8 * 1024,
  // SASL responses are single base64 lines: GSSAPI tokens carrying a Kerberos PAC reach several KiB;
  // 12288 is the figure RFC 4954 §4 gives SMTP AUTH for the same purpose.
  maxRawLineBytes: 12 * 1024,
  // Before login only LOGIN and ID arguments are literals: a 256-byte user, a 1024-byte password,
  // a 1024-byte ID value. Anything bigger is not a login.
  maxLiteralBytes: 8 * 1024,
  // One ID command at the RFC 2971 maximum (30 pairs of 30 + 1024 bytes) is ~32 KiB; nothing pre-auth is larger.
  maxCommandBytes: 64 * 1024,
  // Discarding costs only bandwidth, but an unbounded discard lets a client pin a pre-auth
  // connection forever; past this, closing the connection is cheaper than staying in sync.
  maxDiscardBytes: 64 * 1024,
  // Many clients and every telnet test send bare LF, and Dovecot and nginx accept it; the proxy never
  // relays the client's line bytes (it re-encodes LOGIN upstream), so there is nothing to smuggle.
  allowBareLf: true,
};

/** Options of {@link ImapResponseReader}. */
export interface ImapResponseLimits {
  /** Longest upstream response line (one segment, CRLF excluded), in bytes. */
  readonly maxLineBytes: number;
  /** Largest literal inside an upstream response, in bytes. */
  readonly maxLiteralBytes: number;
  /** Largest whole response (segments plus literals), in bytes. */
  readonly maxResponseBytes: number;
}

export const IMAP_RESPONSE_DEFAULTS: ImapResponseLimits = {
  // A pre-auth upstream reply is a greeting, CAPABILITY (Dovecot's is ~400 bytes) or a tagged
  // status; 64 KiB bounds memory per login while leaving servers with long capability lists room.
  maxLineBytes: 64 * 1024,
  // Only `* ID` values can be literals before login (≤1024 bytes each, RFC 2971 §3.3).
  maxLiteralBytes: 64 * 1024,
  // One response is at most a long line plus a few ID literals.
  maxResponseBytes: 256 * 1024,
};

/** RFC 2971 §3.3 bounds on ID parameters. */
export interface ImapIdLimits {
  /** RFC 2971 §3.3: "Implementations MUST NOT send more than 30 field-value pairs". */
  readonly maxPairs: number;
  /** RFC 2971 §3.3: "Field strings MUST NOT be longer than 30 octets". */
  readonly maxKeyBytes: number;
  /** RFC 2971 §3.3: "Value strings MUST NOT be longer than 1024 octets". */
  readonly maxValueBytes: number;
}

export const IMAP_ID_DEFAULTS: ImapIdLimits = { maxPairs: 30, maxKeyBytes: 30, maxValueBytes: 1024 };
