/**
 * The config-watcher's own state beside the effective config, in the KV bucket
 * {@link WatcherStateBucket} (services never read it):
 *
 * - a {@link PinnedEntry} per entry a roll-back (`postern events replay --apply`) set apart from the
 *   directory: the values it holds, and the directory's entry as it was then. A pinned value stays
 *   until the directory changes that attribute explicitly (its value there differs from the one
 *   recorded, or a logged write names it); then the directory's value applies again.
 * - an {@link AccountRouting} per account the watcher has published: its routing attributes, what a
 *   change whose source has no old values is compared with.
 */
import { z } from 'zod';
import { AttributeMapSchema } from './config-events';

/** The KV bucket of the watcher's state. */
export const WatcherStateBucket = {
  name: 'postern-watcher',
  /** `pin.<config key>` */
  pinPrefix: 'pin.',
  /** `account.<digest of the account's DN>` */
  accountPrefix: 'account.',
} as const;

export const PinnedEntrySchema = z
  .object({
    scope: z.enum(['global', 'server', 'domain']),
    entry: z.string().min(1).max(512),
    dn: z.string().max(2048),
    /** The directory's entry (published attributes) when the pin was last checked; null: it had none. */
    directory: AttributeMapSchema.nullable(),
    /** Attribute values held instead of the directory's (null: held absent). */
    held: z.record(z.string().min(1).max(128), z.array(z.string()).nullable()),
    /**
     * Set when the roll-back removed an entry the directory holds (false) or kept one the directory
     * no longer holds (true, with every attribute in `held`).
     */
    exists: z.boolean().optional(),
    /** The stream sequence of the roll-back event that pinned these values. */
    sequence: z.number().int().min(0),
    /** When (ISO 8601). */
    time: z.string(),
  })
  .strict();
export type PinnedEntry = z.infer<typeof PinnedEntrySchema>;

/** What the watcher last published of an account's routing. */
export const AccountRoutingSchema = z.object({ dn: z.string().max(2048), attributes: AttributeMapSchema }).strict();
export type AccountRouting = z.infer<typeof AccountRoutingSchema>;
