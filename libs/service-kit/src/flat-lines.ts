/**
 * The lines a proxy writes once per login or session (the mail proxy's `login` and `session ended`)
 * written without pino's per-line machinery, to the same output as the same line through pino:
 * level, time, the logger's bindings, the fields in order, msg. pino spends a few microseconds a
 * line on its generality (arguments, a Date and an ISO string per line, serializer and redaction
 * lookups per field); a line of flat fields needs none of it.
 *
 * Only what pino itself would write unchanged goes this way: the fields must be flat (strings,
 * finite numbers, booleans, undefined) and none may be one pino redacts, serializes or formats
 * (a secret's name, `err`); otherwise, or when the logger is set up beyond createLogger's plain
 * options (a mixin, formatters, a hook), the caller is told to log through pino instead.
 */
import pino, { type Logger } from 'pino';
import { isoTimeNow } from './iso-time';

/** Field values a flat line takes; anything else goes through pino. */
type Flat = string | number | boolean | undefined;

/** The pino symbols read here (msgPrefixSym is missing from pino's type of them). */
type PinoSymbol =
  | 'chindingsSym'
  | 'errorKeySym'
  | 'formattersSym'
  | 'hooksSym'
  | 'lsCacheSym'
  | 'messageKeySym'
  | 'mixinSym'
  | 'msgPrefixSym'
  | 'needsMetadataGsym'
  | 'nestedKeySym'
  | 'serializersSym'
  | 'streamSym'
  | 'stringifiersSym'
  | 'timeSym'
  | 'wildcardFirstSym'
  | 'endSym';

const {
  chindingsSym,
  errorKeySym,
  formattersSym,
  hooksSym,
  lsCacheSym,
  messageKeySym,
  mixinSym,
  msgPrefixSym,
  needsMetadataGsym,
  nestedKeySym,
  serializersSym,
  streamSym,
  stringifiersSym,
  timeSym,
  wildcardFirstSym,
  endSym,
} = pino.symbols as unknown as Readonly<Record<PinoSymbol, symbol>>;

/** Keys remembered by a writer ({@link FlatLines.heads}): far more than the lines written this way use. */
const MAX_HEADS = 256;

/** pino's internals as read here (the symbols are pino's public `pino.symbols`). */
type Internals = Record<symbol, unknown>;

/** pino's `stdTimeFunctions.isoTime` field. */
function isoTimeField(): string {
  return `,"time":"${isoTimeNow()}"`;
}

/** One value as pino writes it, or undefined for a value that is not flat. */
function flatValue(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    default:
      return undefined;
  }
}

export class FlatLines {
  private readonly internals: Internals;
  /** False when the logger does more to a line than createLogger's options do: every line then goes through pino. */
  private readonly plain: boolean;
  private readonly time: () => string;
  /** `,"key":` by key, or null for a key pino changes: the keys of a few kinds of line, bounded all the same. */
  private readonly heads = new Map<string, string | null>();

  constructor(private readonly logger: Logger) {
    const self = logger as unknown as Internals;
    this.internals = self;
    const formatters = self[formattersSym] as { log?: unknown } | undefined;
    const hooks = self[hooksSym] as { streamWrite?: unknown } | undefined;
    const stream = self[streamSym] as Record<symbol, unknown> | undefined;
    const stringifiers = self[stringifiersSym] as Record<symbol, unknown> | undefined;
    this.plain =
      !self[mixinSym] &&
      !formatters?.log &&
      !hooks?.streamWrite &&
      typeof self[msgPrefixSym] !== 'string' &&
      !self[nestedKeySym] &&
      stream !== undefined &&
      typeof (stream as { write?: unknown }).write === 'function' &&
      stream[needsMetadataGsym] !== true &&
      !stringifiers?.[wildcardFirstSym] &&
      typeof self[lsCacheSym] === 'object' &&
      typeof self[endSym] === 'string';
    const time = self[timeSym] as () => string;
    this.time = time === pino.stdTimeFunctions.isoTime ? isoTimeField : time;
  }

  /**
   * Writes `{…lead, …fields}` at info as pino would, `lead`'s keys first; false (nothing written)
   * when the line must go through pino (see the module comment). Keys in both are pino's to merge.
   */
  info(lead: Readonly<Record<string, Flat>>, fields: Readonly<Record<string, unknown>>, message: string): boolean {
    if (!this.plain) return false;
    // Disabled: written by nobody, as pino's own no-op would.
    if (this.logger.levelVal > pino.levels.values.info!) return true;
    const props = this.props(lead, fields);
    if (props === undefined) return false;
    const self = this.internals;
    const levelOpen = (self[lsCacheSym] as Record<number, string>)[pino.levels.values.info!];
    const line = `${levelOpen}${this.time()}${self[chindingsSym] as string}${props},"${self[messageKeySym] as string}":${JSON.stringify(message)}${self[endSym] as string}`;
    (self[streamSym] as { write(line: string): void }).write(line);
    return true;
  }

  /** `,"key":value` for each field of lead then fields, or undefined when one of them is not pino's to skip. */
  private props(lead: Readonly<Record<string, unknown>>, fields: Readonly<Record<string, unknown>>): string | undefined {
    let out = '';
    for (const key in lead) {
      if (Object.prototype.hasOwnProperty.call(fields, key)) return undefined;
      const prop = this.prop(key, lead[key]);
      if (prop === undefined) return undefined;
      out += prop;
    }
    for (const key in fields) {
      const prop = this.prop(key, fields[key]);
      if (prop === undefined) return undefined;
      out += prop;
    }
    return out;
  }

  /** `,"key":value`, '' for an undefined value, undefined when pino would change it. */
  private prop(key: string, value: unknown): string | undefined {
    if (value === undefined) return '';
    let head = this.heads.get(key);
    if (head === undefined) {
      const self = this.internals;
      const changed =
        key === self[errorKeySym] ||
        (self[serializersSym] as Record<string, unknown>)[key] !== undefined ||
        (self[stringifiersSym] as Record<string, unknown>)[key] !== undefined;
      // A key pino serializes or redacts is remembered as such (null): its lines go through pino.
      head = changed ? null : `,${JSON.stringify(key)}:`;
      if (this.heads.size < MAX_HEADS) this.heads.set(key, head);
    }
    if (head === null) return undefined;
    const text = flatValue(value);
    return text === undefined ? undefined : head + text;
  }
}
