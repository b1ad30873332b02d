/** CAPABILITY (RFC 9051 §6.1.1): no arguments, any state. */
import { ANY_STATE, noArgumentVerb } from './spec';

export const CAPABILITY = noArgumentVerb('CAPABILITY', ANY_STATE, 'any');
