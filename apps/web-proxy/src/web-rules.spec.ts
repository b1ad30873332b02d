import { resolveSettings } from '@postern/config';
import { describe, expect, it } from 'vitest';
import { hostName, poolMember, readTimeoutOf, wantsLoginPool } from './web-rules';

describe('readTimeoutOf', () => {
  const s = resolveSettings({
    overrides: { zimbraReverseProxyUpstreamReadTimeout: '60s', zimbraReverseProxyUpstreamPollingTimeout: '1h', posternWebWaitSetTimeout: '1220s' },
  });

  it('gives the long-poll routes their longer timeouts', () => {
    expect(readTimeoutOf('activesync', '/Microsoft-Server-ActiveSync?Cmd=Ping', s)).toBe(3_600_000);
    expect(readTimeoutOf('pool', '/EWS/Exchange.asmx', s)).toBe(3_600_000);
    expect(readTimeoutOf('token', '/service/soap/WaitSetRequest', s)).toBe(1_220_000);
    expect(readTimeoutOf('token', '/service/soap/NoOpRequest?x=1', s)).toBe(1_220_000);
    expect(readTimeoutOf('rest', '/home/alice@example.com/Inbox', s)).toBe(60_000);
  });
});

describe('poolMember', () => {
  it("is Zimbra's client-address hash: stable per address, spread over the pool", () => {
    const pool = ['a:80', 'b:80', 'c:80'];
    expect(poolMember(pool, '192.0.2.7')).toBe(poolMember(pool, '192.0.2.7'));
    const chosen = new Set(Array.from({ length: 50 }, (_, i) => poolMember(pool, `198.51.100.${i}`)));
    expect(chosen).toEqual(new Set(pool));
    expect(poolMember(pool, '2001:db8::1')).toBeDefined();
    expect(poolMember([], '192.0.2.7')).toBeUndefined();
  });

  it('hashes the bytes of the address, however it is spelt', () => {
    // h = 89, then (h × 113 + byte) mod 6271 per byte: 4470 for 192.0.2.7, 2600 for 2001:db8::1.
    const pool = Array.from({ length: 6271 }, (_, i) => `s${i}:80`);
    expect(poolMember(pool, '192.0.2.7')).toBe('s4470:80');
    expect(poolMember(pool, '::ffff:192.0.2.7')).toBe('s4470:80');
    expect(poolMember(pool, '2001:db8::1')).toBe('s2600:80');
    expect(poolMember(pool, '2001:0DB8:0:0:0:0:0:1')).toBe('s2600:80');
  });

  it('skips a server that is out, and keeps the hash choice when all are', () => {
    const pool = ['a:80', 'b:80', 'c:80'];
    const usual = poolMember(pool, '192.0.2.7')!;
    const next = pool[(pool.indexOf(usual) + 1) % pool.length];
    expect(poolMember(pool, '192.0.2.7', (m) => m !== usual)).toBe(next);
    expect(poolMember(pool, '192.0.2.7', () => false)).toBe(usual);
  });
});

describe('wantsLoginPool', () => {
  it('sends pages outside the mailbox paths to the login pool until the client has a token', () => {
    expect(wantsLoginPool('/', undefined)).toBe(true);
    expect(wantsLoginPool('/js/zimbraMail/app.js', 'theme=x')).toBe(true);
    expect(wantsLoginPool('/', 'a=1; ZM_AUTH_TOKEN=0_abc')).toBe(false);
  });

  it('sends logout and re-login there even with a token', () => {
    expect(wantsLoginPool('/?loginOp=logout', 'ZM_AUTH_TOKEN=0_abc')).toBe(true);
    expect(wantsLoginPool('/?x=1&loginOp=relogin', 'ZM_AUTH_TOKEN=0_abc')).toBe(true);
    expect(wantsLoginPool('/?loginOp=login', 'ZM_AUTH_TOKEN=0_abc')).toBe(false);
  });

  it('never takes the mailbox paths', () => {
    for (const path of ['/service/soap', '/home/', '/dav/x', '/.well-known/caldav', '/zimbra/home/a', '/principals/users/a/'])
      expect(wantsLoginPool(path, undefined)).toBe(false);
  });
});

describe('hostName', () => {
  it('is the Host without its port, in lower case; undefined for what is not a name', () => {
    const cases: [string | undefined, string | undefined][] = [
      ['Mail.Example.COM', 'mail.example.com'],
      ['mail.example.com:8443', 'mail.example.com'],
      ['[2001:db8::1]:443', undefined],
      ['[2001:db8::1', undefined],
      [':443', undefined],
      ['bad_name', undefined],
      ['', undefined],
      [undefined, undefined],
      ['a'.repeat(254), undefined],
    ];
    // Twice over, in turn: the last Host is remembered, and a different one is read afresh.
    for (const round of [1, 2]) for (const [host, name] of cases) expect(hostName(host), `${host} (round ${round})`).toBe(name);
    expect(hostName('mail.example.com')).toBe('mail.example.com');
    expect(hostName('mail.example.com')).toBe('mail.example.com');
    expect(hostName('MAIL.example.com')).toBe('mail.example.com');
  });
});
