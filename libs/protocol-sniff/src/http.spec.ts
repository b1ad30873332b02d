import { describe, expect, it } from 'vitest';
import { looksLikeHttp } from './http';

describe('HTTP on a mail port', () => {
  it('recognises request lines, not IMAP or POP3', () => {
    expect(looksLikeHttp('GET / HTTP/1.1')).toBe(true);
    expect(looksLikeHttp(Buffer.from('POST /service/soap HTTP/1.0\r\n'))).toBe(true);
    expect(looksLikeHttp('CONNECT mail.example.com:443 HTTP/1.1')).toBe(true);
    expect(looksLikeHttp('a1 LOGIN alice secret')).toBe(false);
    expect(looksLikeHttp('GET INBOX')).toBe(false);
    expect(looksLikeHttp('USER alice')).toBe(false);
  });
});
