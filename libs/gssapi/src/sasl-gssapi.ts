/**
 * The server side of the SASL GSSAPI mechanism (RFC 4752 §3.1), as a step function over a
 * security context: bytes from the client in, the next challenge or the outcome out. No I/O.
 *
 *   1. context establishment: each client token is accepted; the acceptor's reply is the next
 *      challenge (with mutual authentication the last one carries the AP-REP, answered empty);
 *   2. the security layer: the server sends wrap([layers, max size]) offering "no security layer"
 *      only (TLS protects the connection where it is wanted); the client answers
 *      wrap([chosen layer, max size, authorization identity]);
 *   3. done: the authenticated principal and the authorization identity (empty = none).
 *
 * The proxy runs it over GssContext (acceptor.ts); the spec beside it over a scripted context.
 */

/** What the exchange needs of a security context. */
export interface SecurityContext {
  step(token: Buffer): { complete: boolean; output: Buffer };
  readonly principal: string | undefined;
  wrap(data: Buffer): Buffer;
  unwrap(data: Buffer): Buffer;
  dispose(): void;
}

/** RFC 4752 §3.3: bit 1 = no security layer. */
const NO_SECURITY_LAYER = 0x01;
/** The authorization identity is a login name: the proxy's login bound applies. */
const MAX_AUTHZID_BYTES = 256;

export type SaslGssapiStep =
  | { readonly kind: 'challenge'; readonly data: Buffer }
  | { readonly kind: 'done'; readonly principal: string; readonly authzid: string | undefined }
  | { readonly kind: 'failed'; readonly reason: string };

export class SaslGssapiServer {
  private phase: 'context' | 'layer-sent' | 'done' = 'context';

  constructor(private readonly context: SecurityContext) {}

  /** One client response (decoded from base64; empty for an empty response). */
  step(response: Buffer): SaslGssapiStep {
    try {
      return this.advance(response);
    } catch (error) {
      this.phase = 'done';
      return { kind: 'failed', reason: error instanceof Error ? error.message : String(error) };
    }
  }

  private advance(response: Buffer): SaslGssapiStep {
    switch (this.phase) {
      case 'context': {
        if (this.context.principal !== undefined) return this.offerLayer();
        const { complete, output } = this.context.step(response);
        if (!complete) return { kind: 'challenge', data: output };
        // The AP-REP (mutual authentication) goes first; the client answers it with an empty response.
        return output.length > 0 ? { kind: 'challenge', data: output } : this.offerLayer();
      }
      case 'layer-sent': {
        const message = this.context.unwrap(response);
        if (message.length < 4) throw new Error('security layer message too short');
        if (message[0] !== NO_SECURITY_LAYER) throw new Error('client chose a security layer that was not offered');
        const authzid = message.subarray(4);
        if (authzid.length > MAX_AUTHZID_BYTES) throw new Error('authorization identity too long');
        const text = authzid.toString('utf8');
        if (!Buffer.from(text, 'utf8').equals(authzid) || /[\x00-\x1f\x7f]/.test(text)) throw new Error('authorization identity is not a valid name');
        this.phase = 'done';
        return { kind: 'done', principal: this.context.principal!, authzid: text === '' ? undefined : text };
      }
      case 'done':
        throw new Error('exchange already finished');
    }
  }

  private offerLayer(): SaslGssapiStep {
    this.phase = 'layer-sent';
    // No security layer, and so no maximum buffer size (RFC 4752 §3.1: it must then be 0).
    return { kind: 'challenge', data: this.context.wrap(Buffer.from([NO_SECURITY_LAYER, 0, 0, 0])) };
  }

  /** Frees the security context. */
  dispose(): void {
    this.context.dispose();
  }
}
