/** LOGOUT (RFC 9051 §6.1.3): no arguments, any state; the server sends `* BYE` then the tagged OK. */
import { ANY_STATE, noArgumentVerb } from './spec';

export const LOGOUT = noArgumentVerb('LOGOUT', ANY_STATE, 'any');
