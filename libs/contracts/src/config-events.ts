/**
 * Config events: one per detected change in the directory, published to the `POSTERN_CONFIG`
 * JetStream stream on `postern.config.<scope>.<kind>` so they can be listed and replayed.
 */
import { z } from 'zod';
import { Subjects } from './subjects';

export const ConfigScopeSchema = z.enum(['global', 'server', 'domain', 'account']);
export type ConfigScope = z.infer<typeof ConfigScopeSchema>;

export const ConfigChangeKindSchema = z.enum(['created', 'modified', 'deleted']);
export type ConfigChangeKind = z.infer<typeof ConfigChangeKindSchema>;

/** Attribute values, by attribute name. Secrets (private keys) are replaced by a fingerprint before publishing. */
const AttributeMapSchema = z.record(z.string().max(128), z.array(z.string()));

export const ConfigEventSchema = z
  .object({
    scope: ConfigScopeSchema,
    /** Which entry: `global`, a server's service host name, a domain name or an account's zimbraId. */
    key: z.string().min(1).max(256),
    kind: ConfigChangeKindSchema,
    /** The attributes that changed. */
    attributes: z.array(z.string().max(128)),
    before: AttributeMapSchema.nullable(),
    after: AttributeMapSchema.nullable(),
    detectedAt: z.iso.datetime(),
  })
  .strict();
export type ConfigEvent = z.infer<typeof ConfigEventSchema>;

/** The subject a config event is published on. */
export function configEventSubject(scope: ConfigScope, kind: ConfigChangeKind): string {
  return `${Subjects.configEventPrefix}.${scope}.${kind}`;
}
