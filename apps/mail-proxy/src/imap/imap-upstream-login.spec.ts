import { describe, expect, it } from 'vitest';
import { createImapUpstreamReader } from './imap-upstream-login';

const bytes = (text: string) => Buffer.from(text, 'latin1');

describe('IMAP upstream reader', () => {
  it('reads a greeting with capabilities, and hands back what follows the tagged reply', () => {
    const reader = createImapUpstreamReader();
    expect(reader.push(bytes('* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+] ready\r\n'))).toMatchObject([
      { type: 'untagged', status: 'OK', code: { name: 'CAPABILITY' } },
    ]);
    expect(reader.push(bytes('p2 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n* 3 EXI'))).toMatchObject([
      { type: 'tagged', tag: 'p2', status: 'OK', code: { name: 'CAPABILITY' } },
    ]);
    expect(Buffer.from(reader.drainBuffered()).toString('latin1')).toBe('* 3 EXI');
  });

  it('fails the login on a response it cannot read to the end', () => {
    const reader = createImapUpstreamReader();
    expect(() => reader.push(bytes(`* OK ${'x'.repeat(70 * 1024)}`))).toThrow(/line-too-long/);
  });
});
