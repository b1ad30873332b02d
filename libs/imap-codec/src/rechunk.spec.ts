/**
 * Re-chunking: real transcripts fed whole, split at every byte position, and byte by byte must
 * produce identical events. TCP delivers bytes in arbitrary pieces; the codec must not care.
 */
import { describe, expect, it } from 'vitest';
import { ImapCommandFramer } from './framer';
import { parseCommand } from './parse-command';
import { ImapResponseReader } from './response-reader';

/** A minimal session: parses commands, switches to raw-line mode after AUTHENTICATE without IR. */
function clientSession() {
  const framer = new ImapCommandFramer();
  const out: unknown[] = [];
  return {
    out,
    push(bytes: Uint8Array) {
      framer.push(bytes);
      for (let e = framer.next(); e; e = framer.next()) {
        if (e.type !== 'command') {
          out.push(e.type === 'raw-line' ? { rawLine: Buffer.from(e.line).toString('latin1') } : e);
          continue;
        }
        const r = parseCommand(e.frame);
        if (!r.ok) {
          out.push({ error: r.reason, tag: r.tag });
          continue;
        }
        const c = r.command;
        out.push({
          ...c,
          ...(c.name === 'LOGIN' ? { password: c.password.reveal() } : {}),
          ...(c.name === 'AUTHENTICATE' ? { initialResponse: c.initialResponse?.reveal() ?? null } : {}),
        });
        if (c.name === 'AUTHENTICATE' && c.initialResponse === null) framer.expectRawLine();
      }
    },
  };
}

function upstreamSession() {
  const reader = new ImapResponseReader();
  const out: unknown[] = [];
  return {
    out,
    push(bytes: Uint8Array) {
      for (const e of reader.push(bytes)) out.push('raw' in e && e.raw ? { ...e, raw: Buffer.from(e.raw).toString('latin1') } : e);
    },
  };
}

type Session = { out: unknown[]; push(bytes: Uint8Array): void };

function feedings(data: Buffer): [string, Buffer[]][] {
  const ways: [string, Buffer[]][] = [['whole', [data]]];
  for (let i = 1; i < data.length; i++) ways.push([`split at ${i}`, [data.subarray(0, i), data.subarray(i)]]);
  ways.push(['byte by byte', Array.from(data, (b) => Buffer.from([b]))]);
  return ways;
}

function run(make: () => Session, chunks: Buffer[]): unknown[] {
  const s = make();
  for (const c of chunks) s.push(c);
  return s.out;
}

const thunderbird = Buffer.from(
  [
    'a1 CAPABILITY\r\n',
    'a2 ID ("name" "Thunderbird" "version" "115.0")\r\n',
    'a3 LOGIN {17}\r\nalice@example.com {8}\r\nhunter2!\r\n',
    'a4 AUTHENTICATE PLAIN\r\nAGFsaWNlQGV4YW1wbGUuY29tAGh1bnRlcjIh\r\n',
    'a5 AUTHENTICATE PLAIN\r\n*\r\n',
    'a6 AUTHENTICATE PLAIN AGFsaWNlAHB3\r\n',
    'a7 AUTHENTICATE PLAIN =\r\n',
    'a8 LOGIN {5+}\r\nalice "p \\"w\\\\"\r\n',
    'a9 NOOP\r\na10 LOGOUT\r\n',
  ].join(''),
  'latin1',
);

const dovecot = Buffer.from(
  [
    '* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN] Dovecot ready.\r\n',
    '* ID ("name" "Dovecot" "version" {5}\r\n2.3.2)\r\n',
    '* OK [ALERT] System going down at 22:00\r\n',
    '* BAD ignored by the proxy\r\n',
    'a3 OK ID completed.\r\n',
    '+ Ready for literal data\r\n',
    'a3 OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT THREAD=REFERENCES MULTIAPPEND UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE LITERAL+ NOTIFY SPECIAL-USE] Logged in\r\n',
  ].join(''),
  'latin1',
);

describe('re-chunking', () => {
  it.each<[string, () => Session, Buffer, number]>([
    ['a Thunderbird-like pre-auth client', clientSession, thunderbird, 14],
    ['a Dovecot upstream login', upstreamSession, dovecot, 7],
  ])('%s: identical events however the bytes arrive', (_name, make, data, count) => {
    const reference = run(make, [data]);
    expect(reference).toHaveLength(count);
    for (const [how, chunks] of feedings(data)) expect(run(make, chunks), how).toEqual(reference);
  });

  it('the client transcript means what it says', () => {
    expect(run(clientSession, [thunderbird])).toEqual([
      { tag: 'a1', name: 'CAPABILITY' },
      {
        tag: 'a2',
        name: 'ID',
        params: [
          { key: 'name', value: 'Thunderbird' },
          { key: 'version', value: '115.0' },
        ],
      },
      { type: 'continue', tag: 'a3', size: 17 },
      { type: 'continue', tag: 'a3', size: 8 },
      { tag: 'a3', name: 'LOGIN', userid: 'alice@example.com', password: 'hunter2!' },
      { tag: 'a4', name: 'AUTHENTICATE', mechanism: 'PLAIN', initialResponse: null },
      { rawLine: 'AGFsaWNlQGV4YW1wbGUuY29tAGh1bnRlcjIh' },
      { tag: 'a5', name: 'AUTHENTICATE', mechanism: 'PLAIN', initialResponse: null },
      { rawLine: '*' },
      { tag: 'a6', name: 'AUTHENTICATE', mechanism: 'PLAIN', initialResponse: 'AGFsaWNlAHB3' },
      { tag: 'a7', name: 'AUTHENTICATE', mechanism: 'PLAIN', initialResponse: '' },
      { tag: 'a8', name: 'LOGIN', userid: 'alice', password: 'p "w\\' },
      { tag: 'a9', name: 'NOOP' },
      { tag: 'a10', name: 'LOGOUT' },
    ]);
  });

  it('the upstream transcript keeps raw bytes, codes and literals', () => {
    const events = run(upstreamSession, [dovecot]) as Record<string, unknown>[];
    expect(events.map((e) => [e.type, e.status ?? e.keyword, (e.code as { name?: string } | undefined)?.name])).toEqual([
      ['untagged', 'OK', 'CAPABILITY'],
      ['untagged', 'ID', undefined],
      ['untagged', 'OK', 'ALERT'],
      ['untagged', 'BAD', undefined],
      ['tagged', 'OK', undefined],
      ['continuation', undefined, undefined],
      ['tagged', 'OK', 'CAPABILITY'],
    ]);
    expect(events.map((e) => e.raw).join('')).toBe(dovecot.toString('latin1'));
  });
});
