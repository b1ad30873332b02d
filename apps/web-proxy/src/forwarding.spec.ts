import { describe, expect, it } from 'vitest';
import { believedClient, clientResponseHeaders, upstreamRequestHeaders, type ClientSide } from './forwarding';

const stranger: ClientSide = { peerIp: '198.51.100.7', proto: 'https', localPort: 443, peerTrusted: false };
const balancer: ClientSide = { peerIp: '10.0.0.5', proto: 'http', localPort: 80, peerTrusted: true };

describe('upstreamRequestHeaders', () => {
  it('an HTTP/2 request goes on as HTTP/1.1: Host from :authority, its cookies in one header, no pseudo-headers', () => {
    const out = upstreamRequestHeaders(
      [':method', 'GET', ':path', '/', ':scheme', 'https', ':authority', 'mail.example.com', 'cookie', 'a=1', 'accept', '*/*', 'cookie', 'ZM_AUTH_TOKEN=t'],
      stranger,
    );
    expect(out).toEqual([
      ['Host', 'mail.example.com'],
      ['accept', '*/*'],
      ['Cookie', 'a=1; ZM_AUTH_TOKEN=t'],
      ['X-Forwarded-For', '198.51.100.7'],
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-Port', '443'],
    ]);
  });

  it('does not pass on Expect: the proxy has met it (100 Continue) already', () => {
    const out = upstreamRequestHeaders(['Host', 'h', 'Expect', '100-continue', 'Content-Length', '5'], stranger);
    expect(out.map(([name]) => name)).toEqual(['Host', 'Content-Length', 'X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Port']);
  });

  it('replaces a stranger X-Forwarded-* with what the proxy saw', () => {
    const out = upstreamRequestHeaders(['Host', 'mail.example.com', 'X-Forwarded-For', '1.2.3.4', 'X-Forwarded-Proto', 'http', 'Accept', '*/*'], stranger);
    expect(out).toEqual([
      ['Host', 'mail.example.com'],
      ['Accept', '*/*'],
      ['X-Forwarded-For', '198.51.100.7'],
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-Port', '443'],
    ]);
  });

  it('believes a trusted peer and appends it to the chain', () => {
    const out = upstreamRequestHeaders(['X-Forwarded-For', '203.0.113.9', 'x-forwarded-for', '192.0.2.1', 'X-Forwarded-Proto', 'https'], balancer);
    expect(out).toEqual([
      ['X-Forwarded-For', '203.0.113.9, 192.0.2.1, 10.0.0.5'],
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-Port', '80'],
    ]);
  });

  it('drops hop-by-hop headers and those Connection names, but not Host or the forwarded ones', () => {
    const out = upstreamRequestHeaders(
      [
        'Connection',
        'keep-alive, X-Secret, Host, X-Forwarded-For',
        'Keep-Alive',
        'timeout=5',
        'X-Secret',
        's',
        'TE',
        'trailers',
        'Host',
        'h',
        'Proxy-Authorization',
        'x',
      ],
      stranger,
    );
    expect(out.map(([name]) => name)).toEqual(['Host', 'X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Port']);
  });
});

describe('clientResponseHeaders', () => {
  it('drops hop-by-hop headers of the response', () => {
    expect(
      clientResponseHeaders({
        'content-type': 'text/plain',
        connection: 'close, x-internal',
        'x-internal': '1',
        'transfer-encoding': 'chunked',
        'set-cookie': ['a=1', 'b=2'],
      }),
    ).toEqual({
      'content-type': 'text/plain',
      'set-cookie': ['a=1', 'b=2'],
    });
  });
});

describe('believedClient', () => {
  it("a trusted peer's last X-Forwarded-For address; anyone else is taken for who it is", () => {
    expect(believedClient('10.0.0.5', true, '203.0.113.9, 192.0.2.1')).toBe('192.0.2.1');
    expect(believedClient('10.0.0.5', true, ['203.0.113.9', '192.0.2.7'])).toBe('192.0.2.7');
    expect(believedClient('198.51.100.7', false, '203.0.113.9')).toBe('198.51.100.7');
    expect(believedClient('10.0.0.5', true, undefined)).toBe('10.0.0.5');
  });
});
