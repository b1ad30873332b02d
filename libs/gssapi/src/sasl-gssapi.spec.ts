/**
 * The RFC 4752 server exchange over a scripted security context: "wrapping" here is a marker
 * prefix, so the tests see exactly which messages the mechanism protects and reads.
 */
import { describe, expect, it } from 'vitest';
import { SaslGssapiServer, type SecurityContext } from './sasl-gssapi';

const WRAPPED = Buffer.from('W:');

/** A context that completes after `tokens` client tokens, answering each with `reply-N` (the last with `ap-rep`, or nothing). */
function scripted(tokens: number, { apRep = true } = {}): SecurityContext & { disposed: boolean } {
  let seen = 0;
  let principal: string | undefined;
  return {
    disposed: false,
    step(token) {
      if (token.toString() === 'bad') throw new Error('accept: Request is a replay');
      seen++;
      if (seen < tokens) return { complete: false, output: Buffer.from(`reply-${seen}`) };
      principal = 'alice@EXAMPLE.COM';
      return { complete: true, output: apRep ? Buffer.from('ap-rep') : Buffer.alloc(0) };
    },
    get principal() {
      return principal;
    },
    wrap: (data) => Buffer.concat([WRAPPED, data]),
    unwrap(data) {
      if (!data.subarray(0, WRAPPED.length).equals(WRAPPED)) throw new Error('unwrap: Bad integrity check');
      return data.subarray(WRAPPED.length);
    },
    dispose() {
      this.disposed = true;
    },
  };
}

const wrapped = (...parts: (number[] | string)[]) => Buffer.concat([WRAPPED, ...parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p)))]);
/** The layer offer: no security layer, no buffer size (RFC 4752 §3.1). */
const OFFER = wrapped([1, 0, 0, 0]);

describe('SaslGssapiServer', () => {
  it('Kerberos with mutual authentication: token → AP-REP, empty → layer offer, layer choice → done', () => {
    const server = new SaslGssapiServer(scripted(1));
    expect(server.step(Buffer.from('ap-req'))).toEqual({ kind: 'challenge', data: Buffer.from('ap-rep') });
    expect(server.step(Buffer.alloc(0))).toEqual({ kind: 'challenge', data: OFFER });
    expect(server.step(wrapped([1, 0, 0, 0]))).toEqual({ kind: 'done', principal: 'alice@EXAMPLE.COM', authzid: undefined });
  });

  it('a multi-token context, no final token: the offer comes at once; the authorization identity is read', () => {
    const server = new SaslGssapiServer(scripted(2, { apRep: false }));
    expect(server.step(Buffer.from('t1'))).toEqual({ kind: 'challenge', data: Buffer.from('reply-1') });
    expect(server.step(Buffer.from('t2'))).toEqual({ kind: 'challenge', data: OFFER });
    expect(server.step(wrapped([1, 0, 0, 0], 'alice@example.com'))).toEqual({ kind: 'done', principal: 'alice@EXAMPLE.COM', authzid: 'alice@example.com' });
  });

  it.each([
    ['a ticket the acceptor refuses', [Buffer.from('bad')], 'Request is a replay'],
    ['a security layer that was not offered (integrity)', [Buffer.from('t'), Buffer.alloc(0), wrapped([2, 0, 16, 0])], 'security layer'],
    ['a layer message that is not wrapped', [Buffer.from('t'), Buffer.alloc(0), Buffer.from([1, 0, 0, 0])], 'Bad integrity check'],
    ['a layer message too short', [Buffer.from('t'), Buffer.alloc(0), wrapped([1, 0])], 'too short'],
    ['an authorization identity with a control character', [Buffer.from('t'), Buffer.alloc(0), wrapped([1, 0, 0, 0], 'a\r\nb')], 'not a valid name'],
    ['an authorization identity that is not UTF-8', [Buffer.from('t'), Buffer.alloc(0), wrapped([1, 0, 0, 0], [0xff, 0xfe])], 'not a valid name'],
    ['an authorization identity too long', [Buffer.from('t'), Buffer.alloc(0), wrapped([1, 0, 0, 0], 'a'.repeat(257))], 'too long'],
  ])('fails on %s', (_what, responses, reason) => {
    const server = new SaslGssapiServer(scripted(1));
    let last;
    for (const response of responses) last = server.step(response);
    expect(last).toMatchObject({ kind: 'failed', reason: expect.stringContaining(reason) as unknown });
  });

  it('nothing more after the end; dispose frees the context', () => {
    const context = scripted(1, { apRep: false });
    const server = new SaslGssapiServer(context);
    server.step(Buffer.from('t'));
    server.step(wrapped([1, 0, 0, 0]));
    expect(server.step(Buffer.alloc(0))).toMatchObject({ kind: 'failed' });
    server.dispose();
    expect(context.disposed).toBe(true);
  });
});
