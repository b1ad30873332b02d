/**
 * Recognises an HTTP request sent to a mail port (a browser, a scanner, a cross-protocol attack):
 * the session answers once and closes instead of counting bad commands. RFC 9112 §3 (request-line).
 */

const REQUEST_LINE = /^(?:GET|HEAD|POST|PUT|DELETE|CONNECT|OPTIONS|TRACE|PATCH) \S+ HTTP\/\d(?:\.\d)?\r?\n?$/;

/** True when the first line the client sent is an HTTP request line. */
export function looksLikeHttp(firstLine: Uint8Array | string): boolean {
  const text = typeof firstLine === 'string' ? firstLine : Buffer.from(firstLine.subarray(0, 8192)).toString('latin1');
  return REQUEST_LINE.test(text);
}
