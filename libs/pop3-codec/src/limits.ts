/**
 * Every size limit of the POP3 codec, each with the reason for its default; all are constructor
 * options. RFC 2449 §4 (line lengths), RFC 5034 §4 (AUTH), RFC 1939 §3.
 */

/** Options of {@link Pop3CommandFramer}. */
export interface Pop3FramerLimits {
  /** Longest command line, CRLF INCLUDED (the RFC's unit), in bytes. */
  readonly maxLineBytes: number;
  /** Longest line asked for with `expectRawLine()` (a SASL response), CRLF included, in bytes. */
  readonly maxRawLineBytes: number;
  /** Accept a bare LF as a line end (RFC 1939 §3 says CRLF). */
  readonly allowBareLf: boolean;
}

export const POP3_FRAMER_DEFAULTS: Pop3FramerLimits = {
  // RFC 2449 §4: "Commands ... MUST NOT exceed 255 octets, including the terminating CRLF".
  // Note: a `PASS` with a password over ~245 bytes does not fit; raise it if such passwords exist.
  maxLineBytes: 255,
  // RFC 5034 §4 exempts continuation responses from the 255 limit; GSSAPI tokens with a Kerberos PAC
  // reach several KiB, and 12288 is the figure RFC 4954 §4 gives SMTP AUTH for the same purpose.
  maxRawLineBytes: 12 * 1024,
  // Clients and telnet tests send bare LF and nginx accepts it; the proxy never relays the client's
  // line bytes upstream (it re-encodes USER/PASS), so there is nothing to smuggle.
  allowBareLf: true,
};

/** Options of {@link Pop3ResponseReader}. */
export interface Pop3ResponseLimits {
  /** Longest upstream response line, CRLF included, in bytes. */
  readonly maxLineBytes: number;
  /** Largest multi-line response (CAPA), all lines, in bytes. */
  readonly maxMultilineBytes: number;
}

export const POP3_RESPONSE_DEFAULTS: Pop3ResponseLimits = {
  // RFC 2449 §4 allows 512 octets per response line; servers exceed it in greetings and CAPA
  // IMPLEMENTATION lines, so 8× that, still a small bound per login.
  maxLineBytes: 4096,
  // A CAPA listing is a few hundred bytes; 64 KiB bounds memory if an upstream never sends `.`.
  maxMultilineBytes: 64 * 1024,
};
