/**
 * The request/reply envelope every NATS service uses, and the codec that validates payloads on
 * both ends: a requester never sends what the schema refuses, a responder never trusts what it
 * receives, and a reply that does not match its schema is a typed error, not a crash.
 */
import { z } from 'zod';
import { ErrorCode, PosternError } from './errors';

/** The error half of a reply. */
export const ReplyErrorSchema = z.object({
  code: z.enum([ErrorCode.BadRequest, ErrorCode.Unavailable, ErrorCode.Timeout, ErrorCode.BadReply, ErrorCode.Internal, ErrorCode.Duplicate]),
  message: z.string().max(1024),
  /** How long the client should wait before retrying (the directory's auth-wait hint, for example). */
  retryAfterMs: z.number().int().min(0).optional(),
});
export type ReplyError = z.infer<typeof ReplyErrorSchema>;

/** A reply: `{ ok: true, result }` or `{ ok: false, error }`. */
export type Reply<R> = { ok: true; result: R } | { ok: false; error: ReplyError };

/**
 * A request/reply contract: one subject, one queue group, one schema each way.
 * Both ends use the same object, so a subject string is never written twice.
 */
export interface RequestContract<Req extends z.ZodType, Res extends z.ZodType> {
  readonly subject: string;
  readonly queue: string;
  readonly request: Req;
  readonly result: Res;
}

/** A broadcast contract (no reply, no queue group): every subscriber gets every message. */
export interface EventContract<Ev extends z.ZodType> {
  readonly subject: string;
  readonly event: Ev;
}

export function defineRequest<Req extends z.ZodType, Res extends z.ZodType>(contract: RequestContract<Req, Res>): RequestContract<Req, Res> {
  return contract;
}

export function defineEvent<Ev extends z.ZodType>(contract: EventContract<Ev>): EventContract<Ev> {
  return contract;
}

/** Largest payload accepted on the bus; every request and reply here is far smaller. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}

/** Validates then encodes a value. Throws {@link PosternError} `BAD_REQUEST` when it does not fit the schema. */
export function encodePayload<S extends z.ZodType>(schema: S, value: z.input<S>): Uint8Array {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new PosternError(ErrorCode.BadRequest, `invalid payload: ${describe(parsed.error)}`);
  }
  return encoder.encode(JSON.stringify(parsed.data));
}

/**
 * Decodes and validates bytes from the bus. Returns a result rather than throwing: the caller
 * decides whether a bad payload is the peer's fault (BAD_REQUEST) or a broken reply (BAD_REPLY).
 */
export function decodePayload<S extends z.ZodType>(schema: S, bytes: Uint8Array): { ok: true; value: z.output<S> } | { ok: false; message: string } {
  if (bytes.byteLength > MAX_PAYLOAD_BYTES) return { ok: false, message: `payload of ${bytes.byteLength} bytes exceeds ${MAX_PAYLOAD_BYTES}` };
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(bytes));
  } catch {
    return { ok: false, message: 'payload is not UTF-8 JSON' };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { ok: false, message: `invalid payload: ${describe(parsed.error)}` };
  return { ok: true, value: parsed.data };
}

/** The schema of a whole reply for a given result schema. */
export function replySchema<Res extends z.ZodType>(result: Res) {
  // Built once per result schema: a request path that built it per call paid for zod compiling
  // the same union again on every request.
  const cached = replySchemas.get(result) as ReplySchema<Res> | undefined;
  if (cached) return cached;
  const schema = buildReplySchema(result);
  replySchemas.set(result, schema);
  return schema;
}

function buildReplySchema<Res extends z.ZodType>(result: Res) {
  return z.discriminatedUnion('ok', [z.object({ ok: z.literal(true), result }), z.object({ ok: z.literal(false), error: ReplyErrorSchema })]);
}

type ReplySchema<Res extends z.ZodType> = ReturnType<typeof buildReplySchema<Res>>;
const replySchemas = new WeakMap<z.ZodType, unknown>();
