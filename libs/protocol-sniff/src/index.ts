/**
 * @postern/protocol-sniff: recognises what a connection speaks from its first bytes, so a listener
 * can answer a client of the wrong protocol once and close. Pure: bytes in, a verdict out.
 */
export { looksLikeHttp } from './http';
