/**
 * The rules every pre-auth command passes before its handler runs, read from the codecs' verb
 * tables (states, TLS policy) and the STARTTLS mode: one place for both protocols, checked once.
 */

/** Zimbra's `zimbraReverseProxy{Imap,Pop3}StartTlsMode`. */
export type StartTlsMode = 'only' | 'on' | 'off';

/** What TLS allows right now on a connection. */
export interface TlsPolicy {
  /** STARTTLS/STLS is offered and accepted. */
  readonly startTlsAvailable: boolean;
  /** Credentials are refused until TLS (mode `only`, not yet under TLS). */
  readonly cleartextRefused: boolean;
}

/**
 * Zimbra's rules: with a certificate and mode `on` or `only`, a plain connection may upgrade;
 * under `only` it must before any credentials. Without a certificate nothing is offered or refused.
 */
export function tlsPolicy(mode: StartTlsMode, underTls: boolean, haveCertificate: boolean): TlsPolicy {
  const canUpgrade = !underTls && haveCertificate && mode !== 'off';
  return { startTlsAvailable: canUpgrade, cleartextRefused: canUpgrade && mode === 'only' };
}

/** A verb's table entry as far as admission goes (both codecs' verb specs have this shape). */
export interface VerbPolicy {
  readonly states: readonly string[];
  readonly tls: 'any' | 'before-tls' | 'cleartext-guarded';
}

/** Why a command may not run: the protocol turns each into its own reply. */
export type Refusal = 'wrong-state' | 'tls-unavailable' | 'cleartext-refused';

/** Checks a command against its verb's entry; undefined when it may run. */
export function admit(verb: VerbPolicy, state: string, tls: TlsPolicy): Refusal | undefined {
  if (!verb.states.includes(state)) return 'wrong-state';
  if (verb.tls === 'before-tls' && !tls.startTlsAvailable) return 'tls-unavailable';
  if (verb.tls === 'cleartext-guarded' && tls.cleartextRefused) return 'cleartext-refused';
  return undefined;
}
