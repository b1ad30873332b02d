/**
 * The proxy's Kerberos acceptor (GSS-API, RFC 2743, MIT Kerberos through a small native binding,
 * native/acceptor.c): credentials for one service principal from a keytab, and one security
 * context per client login.
 *
 * Why a binding of its own: SASL GSSAPI (RFC 4752 §3.1) has the server wrap and unwrap the
 * security-layer messages, and the `kerberos` npm package wraps and unwraps on its client side
 * only; its server object can accept a context but not protect a message with it.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';

interface Binding {
  acquire(keytab: string, principal: string): object;
  accept(credentials: object, context: object | null, token: Buffer): { context: object; complete: boolean; output: Buffer; principal: string | null };
  wrap(context: object, data: Buffer): Buffer;
  unwrap(context: object, data: Buffer): Buffer;
  release(context: object): void;
}

let binding: Binding | undefined;
function native(): Binding {
  // Loaded on first use: a proxy with GSSAPI off never needs libgssapi_krb5.
  binding ??= createRequire(__filename)(join(__dirname, '..', 'build', 'Release', 'postern_gssapi.node')) as Binding;
  return binding;
}

/** A GSS-API failure, with MIT's words for it ("Ticket expired", "Request is a replay"). */
export class GssapiError extends Error {
  override readonly name = 'GssapiError';
  readonly code = 'GSSAPI_FAILED';
}

function gss<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw new GssapiError(error instanceof Error ? error.message : String(error), { cause: error });
  }
}

/** Credentials of one service principal (`imap/host@REALM`), read from a keytab. */
export class GssCredentials {
  private constructor(private readonly handle: object) {}

  /**
   * @param keytab the keytab file; `''` for the default (`KRB5_KTNAME`, else krb5.conf's).
   * @param principal the service principal, realm optional (the default realm then).
   * @throws GssapiError when the keytab has no key for the principal.
   */
  static acquire(keytab: string, principal: string): GssCredentials {
    return new GssCredentials(gss(() => native().acquire(keytab, principal)));
  }

  /** A fresh security context for one client. */
  context(): GssContext {
    return new GssContext(this.handle);
  }
}

/** One client's security context: tokens in until it is established, then wrap/unwrap. */
export class GssContext {
  private handle: object | null = null;
  private principalName: string | undefined;

  constructor(private readonly credentials: object) {}

  /** Accepts the client's token; returns the token to send back (maybe empty) and whether the context is established. */
  step(token: Buffer): { complete: boolean; output: Buffer } {
    const result = gss(() => native().accept(this.credentials, this.handle, token));
    this.handle = result.context;
    if (result.complete) this.principalName = result.principal ?? undefined;
    return { complete: result.complete, output: result.output };
  }

  /** The client's principal (`alice@REALM`), once the context is established. */
  get principal(): string | undefined {
    return this.principalName;
  }

  /** Integrity-protects a message for the client (no confidentiality). */
  wrap(data: Buffer): Buffer {
    return gss(() => native().wrap(this.requireHandle(), data));
  }

  /** Checks and unwraps a message from the client. */
  unwrap(data: Buffer): Buffer {
    return gss(() => native().unwrap(this.requireHandle(), data));
  }

  /** Frees the context now (it is also freed when collected). */
  dispose(): void {
    if (this.handle) native().release(this.handle);
    this.handle = null;
  }

  private requireHandle(): object {
    if (!this.handle) throw new GssapiError('no security context');
    return this.handle;
  }
}
