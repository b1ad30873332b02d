/**
 * STARTTLS (RFC 9051 §6.2.1): no arguments, not-authenticated state, only before TLS. After the
 * tagged OK the session must call `ImapCommandFramer.drainBuffered()` and discard what it returns.
 */
import { noArgumentVerb } from './spec';

export const STARTTLS = noArgumentVerb('STARTTLS', ['not-authenticated'], 'before-tls');
