/**
 * Re-chunking: real transcripts fed whole, split at every byte position, and byte by byte must
 * produce identical events.
 */
import { describe, expect, it } from 'vitest';
import { Pop3CommandFramer } from './framer';
import { parsePop3Command } from './parse-command';
import { Pop3ResponseReader } from './response-reader';

type Session = { out: unknown[]; push(bytes: Uint8Array): void };

/** A minimal session: raw-line mode after AUTH without initial response. */
function clientSession(): Session {
  const framer = new Pop3CommandFramer();
  const out: unknown[] = [];
  return {
    out,
    push(bytes) {
      framer.push(bytes);
      for (let e = framer.next(); e; e = framer.next()) {
        if (e.type !== 'line') {
          out.push(e.type === 'raw-line' ? { rawLine: Buffer.from(e.line).toString('latin1') } : e);
          continue;
        }
        const r = parsePop3Command(e.line);
        if (!r.ok) {
          out.push({ error: r.reason });
          continue;
        }
        const c = r.command;
        out.push({
          ...c,
          ...(c.name === 'PASS' ? { password: c.password.reveal() } : {}),
          ...(c.name === 'AUTH' ? { initialResponse: c.initialResponse?.reveal() ?? null } : {}),
        });
        if (c.name === 'AUTH' && c.mechanism !== null && c.initialResponse === null) framer.expectRawLine();
      }
    },
  };
}

/** The proxy's side of an upstream login: CAPA is answered multi-line. */
function upstreamSession(): Session {
  const reader = new Pop3ResponseReader();
  const out: unknown[] = [];
  let seen = 0;
  return {
    out,
    push(bytes) {
      reader.push(bytes);
      for (let e = reader.next(); e; e = reader.next()) {
        out.push('raw' in e && e.raw ? { ...e, raw: Buffer.from(e.raw).toString('latin1') } : e);
        // After the greeting the proxy sends CAPA.
        if (++seen === 1) reader.expectMultiline();
      }
    },
  };
}

function run(make: () => Session, chunks: Buffer[]): unknown[] {
  const s = make();
  for (const c of chunks) s.push(c);
  return s.out;
}

function feedings(data: Buffer): [string, Buffer[]][] {
  const ways: [string, Buffer[]][] = [['whole', [data]]];
  for (let i = 1; i < data.length; i++) ways.push([`split at ${i}`, [data.subarray(0, i), data.subarray(i)]]);
  ways.push(['byte by byte', Array.from(data, (b) => Buffer.from([b]))]);
  return ways;
}

const client = Buffer.from(
  [
    'CAPA\r\n',
    'USER alice@example.com\r\n',
    'PASS hunter 2\r\n',
    'AUTH PLAIN\r\n',
    'AGFsaWNlAHB3ZA==\r\n',
    'AUTH PLAIN\r\n',
    '*\r\n',
    'AUTH PLAIN AGFsaWNlAHB3ZA==\r\n',
    'QUIT\r\n',
  ].join(''),
);

const dovecot = Buffer.from(
  [
    '+OK Dovecot ready.\r\n',
    '+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n',
    '+OK\r\n',
    '+ \r\n',
    '-ERR [AUTH] Authentication failed.\r\n',
    '+OK Logged in.\r\n',
  ].join(''),
);

describe('re-chunking', () => {
  it.each<[string, () => Session, Buffer, number]>([
    ['a pre-auth POP3 client', clientSession, client, 9],
    ['a Dovecot upstream login', upstreamSession, dovecot, 6],
  ])('%s: identical events however the bytes arrive', (_name, make, data, count) => {
    const reference = run(make, [data]);
    expect(reference).toHaveLength(count);
    for (const [how, chunks] of feedings(data)) expect(run(make, chunks), how).toEqual(reference);
  });

  it('the transcripts mean what they say', () => {
    expect(run(clientSession, [client])).toEqual([
      { name: 'CAPA' },
      { name: 'USER', user: 'alice@example.com' },
      { name: 'PASS', password: 'hunter 2' },
      { name: 'AUTH', mechanism: 'PLAIN', initialResponse: null },
      { rawLine: 'AGFsaWNlAHB3ZA==' },
      { name: 'AUTH', mechanism: 'PLAIN', initialResponse: null },
      { rawLine: '*' },
      { name: 'AUTH', mechanism: 'PLAIN', initialResponse: 'AGFsaWNlAHB3ZA==' },
      { name: 'QUIT' },
    ]);
    const up = run(upstreamSession, [dovecot]) as { type: string; lines?: string[] }[];
    expect(up.map((e) => e.type)).toEqual(['ok', 'multiline', 'ok', 'continuation', 'err', 'ok']);
    expect(up[1]?.lines).toEqual(['CAPA', 'TOP', 'UIDL', 'RESP-CODES', 'PIPELINING', 'AUTH-RESP-CODE', 'USER', 'SASL PLAIN LOGIN']);
  });
});
