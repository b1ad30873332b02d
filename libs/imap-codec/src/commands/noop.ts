/** NOOP (RFC 9051 §6.1.2): no arguments, any state. */
import { ANY_STATE, noArgumentVerb } from './spec';

export const NOOP = noArgumentVerb('NOOP', ANY_STATE, 'any');
