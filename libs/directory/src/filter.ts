/**
 * LDAP search filters, RFC 4515 (string representation) with RFC 4526 absolute true/false.
 *
 * - {@link escapeFilterValue} and {@link expandQueryTemplate}: build filters from Zimbra-style query
 *   templates (`${USER}`) with every substituted value escaped, so user input cannot change the
 *   filter's structure (the classic `*)(uid=*` injection).
 * - {@link parseFilter}: string → {@link Filter} tree. Pure; malformed input raises
 *   {@link DirectoryQueryError}. Escaped octets are decoded as UTF-8 (RFC 4515 §3), which ldapts'
 *   own string parser does not do (it maps each `\XX` to one UTF-16 code unit).
 * - {@link matchesFilter}: evaluates a tree against an entry (used by the in-memory directory).
 *
 * Not supported: extensible match (`attr:rule:=value`), which Postern's queries do not use.
 */
import { DirectoryQueryError } from './errors';
import type { Attributes } from './directory';

/** A parsed search filter. Values are decoded (escapes resolved) UTF-8 strings. */
export type Filter =
  | { readonly type: 'and'; readonly filters: readonly Filter[] }
  | { readonly type: 'or'; readonly filters: readonly Filter[] }
  | { readonly type: 'not'; readonly filter: Filter }
  | { readonly type: 'equal' | 'approx' | 'ge' | 'le'; readonly attribute: string; readonly value: string }
  | { readonly type: 'present'; readonly attribute: string }
  | {
      readonly type: 'substring';
      readonly attribute: string;
      readonly initial: string | undefined;
      readonly any: readonly string[];
      readonly final: string | undefined;
    };

// Octets that RFC 4515 §3 requires escaped in a value: NUL, '(', ')', '*', '\'.
const MUST_ESCAPE = new Set([0x00, 0x28, 0x29, 0x2a, 0x5c]);
// Printable ASCII is left as is; everything else (controls, DEL, every byte of a multi-byte UTF-8
// sequence) is escaped too, so a filter is plain ASCII in logs and on the wire.
const FIRST_PRINTABLE = 0x20;
const LAST_PRINTABLE = 0x7e;

/**
 * Escapes a value for use inside an RFC 4515 filter: `*` → `\2a`, `(` → `\28`, `)` → `\29`,
 * `\` → `\5c`, NUL → `\00`, and every UTF-8 byte outside printable ASCII as `\XX`.
 */
export function escapeFilterValue(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    if (MUST_ESCAPE.has(byte) || byte < FIRST_PRINTABLE || byte > LAST_PRINTABLE) {
      out += `\\${byte.toString(16).padStart(2, '0')}`;
    } else {
      out += String.fromCharCode(byte);
    }
  }
  return out;
}

const TEMPLATE_VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Expands a Zimbra query template such as `(zimbraMailDeliveryAddress=${USER})`: every `${NAME}` is
 * replaced by `vars[NAME]` escaped with {@link escapeFilterValue}. A variable the template uses but
 * `vars` lacks raises {@link DirectoryQueryError} (a misconfigured template must not silently
 * become a filter that matches nothing, or everything).
 */
export function expandQueryTemplate(template: string, vars: Readonly<Record<string, string>>): string {
  return template.replace(TEMPLATE_VARIABLE, (_match, name: string) => {
    const value = Object.hasOwn(vars, name) ? vars[name] : undefined;
    if (value === undefined) {
      throw new DirectoryQueryError(`query template uses \${${name}}, which is not defined here`, template);
    }
    return escapeFilterValue(value);
  });
}

/** The variables a template refers to, in order of first use. */
export function templateVariables(template: string): string[] {
  const names = new Set<string>();
  for (const match of template.matchAll(TEMPLATE_VARIABLE)) {
    if (match[1] !== undefined) names.add(match[1]);
  }
  return [...names];
}

// Nesting bound: filters come from configuration (values are escaped), and no real query nests
// more than a few levels; the cap keeps a broken template from recursing without limit.
const MAX_DEPTH = 32;
// RFC 4512 §2.5: attribute description = (descr | numericoid) *(";" option).
const ATTRIBUTE_DESCRIPTION = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)(?:;[A-Za-z0-9-]+)*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses an RFC 4515 filter string. Raises {@link DirectoryQueryError} when malformed. */
export function parseFilter(text: string): Filter {
  const parser = new FilterParser(text.trim(), text);
  const filter = parser.filter(0);
  parser.end();
  return filter;
}

class FilterParser {
  private pos = 0;

  constructor(
    private readonly text: string,
    private readonly original: string,
  ) {}

  filter(depth: number): Filter {
    if (depth > MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    this.expect('(');
    let result: Filter;
    switch (this.text[this.pos]) {
      case '&':
        this.pos += 1;
        result = { type: 'and', filters: this.list(depth) };
        break;
      case '|':
        this.pos += 1;
        result = { type: 'or', filters: this.list(depth) };
        break;
      case '!':
        this.pos += 1;
        result = { type: 'not', filter: this.filter(depth + 1) };
        break;
      default:
        result = this.item();
    }
    this.expect(')');
    return result;
  }

  end(): void {
    if (this.pos !== this.text.length) this.fail(`unexpected text after the filter at offset ${this.pos}`);
  }

  private list(depth: number): Filter[] {
    const filters: Filter[] = [];
    // RFC 4526: an empty list is allowed ((&) is true, (|) is false).
    while (this.text[this.pos] === '(') filters.push(this.filter(depth + 1));
    return filters;
  }

  private item(): Filter {
    const start = this.pos;
    while (this.pos < this.text.length && !'=~<>:()'.includes(this.text[this.pos] ?? '')) this.pos += 1;
    const attribute = this.text.slice(start, this.pos);
    if (this.text[this.pos] === ':') this.fail('extensible match filters are not supported');
    if (!ATTRIBUTE_DESCRIPTION.test(attribute)) this.fail(`invalid attribute description "${attribute}"`);

    const op = this.text[this.pos];
    if (op === '~' || op === '>' || op === '<') {
      this.pos += 1;
      this.expect('=');
      const value = this.value();
      const type = op === '~' ? 'approx' : op === '>' ? 'ge' : 'le';
      return { type, attribute, value };
    }
    this.expect('=');

    // Equality, presence or substring: split the raw value at unescaped '*'.
    const parts: string[] = [this.value()];
    while (this.text[this.pos] === '*') {
      this.pos += 1;
      parts.push(this.value());
    }
    if (parts.length === 1) return { type: 'equal', attribute, value: parts[0] ?? '' };
    if (parts.length === 2 && parts[0] === '' && parts[1] === '') return { type: 'present', attribute };
    const initial = parts[0] ?? '';
    const final = parts[parts.length - 1] ?? '';
    return {
      type: 'substring',
      attribute,
      initial: initial === '' ? undefined : initial,
      any: parts.slice(1, -1).filter((part) => part !== ''),
      final: final === '' ? undefined : final,
    };
  }

  /** Reads an assertion value up to an unescaped `*` or `)`, decoding `\XX` escapes as UTF-8. */
  private value(): string {
    const bytes: number[] = [];
    for (;;) {
      const ch = this.text[this.pos];
      if (ch === undefined) this.fail('unterminated filter');
      if (ch === ')' || ch === '*') break;
      if (ch === '(' || ch === '\0') this.fail(`unescaped "${ch === '\0' ? 'NUL' : ch}" in a value at offset ${this.pos}`);
      if (ch === '\\') {
        const hex = this.text.slice(this.pos + 1, this.pos + 3);
        if (!/^[0-9A-Fa-f]{2}$/.test(hex)) this.fail(`invalid escape "\\${hex}" at offset ${this.pos}`);
        bytes.push(Number.parseInt(hex, 16));
        this.pos += 3;
        continue;
      }
      const code = this.text.codePointAt(this.pos) ?? 0;
      const encoded = Buffer.from(String.fromCodePoint(code), 'utf8');
      bytes.push(...encoded);
      this.pos += code > 0xffff ? 2 : 1;
    }
    try {
      return utf8.decode(Uint8Array.from(bytes));
    } catch (cause) {
      return this.fail('value is not valid UTF-8 once unescaped', cause);
    }
  }

  private expect(ch: string): void {
    if (this.text[this.pos] !== ch) {
      const found = this.text[this.pos] === undefined ? 'end of filter' : `"${this.text[this.pos]}"`;
      this.fail(`expected "${ch}" at offset ${this.pos}, found ${found}`);
    }
    this.pos += 1;
  }

  private fail(message: string, cause?: unknown): never {
    throw new DirectoryQueryError(`invalid LDAP filter: ${message}`, this.original, cause === undefined ? undefined : { cause });
  }
}

// Values of these attributes compare exactly (caseExactMatch or octet matching in the schema);
// every other attribute Postern uses is caseIgnoreMatch.
const CASE_EXACT_ATTRIBUTES = new Set(['userpassword', 'zimbrasslcertificate', 'zimbrasslprivatekey']);
// Superclasses the in-memory directory infers for the standard classes in our fixture, so that
// (objectClass=person) finds inetOrgPerson entries as a real server would.
const IMPLIED_OBJECT_CLASSES: Readonly<Record<string, readonly string[]>> = {
  inetorgperson: ['organizationalperson', 'person'],
  organizationalperson: ['person'],
};
const INTEGER = /^-?\d+$/;

/**
 * Evaluates a filter against an entry's attributes. Attribute names compare case-insensitively;
 * values compare as caseIgnoreMatch (case-folded, outer spaces trimmed, inner runs of spaces
 * collapsed) except for a few case-exact attributes; `>=`/`<=` compare numerically when both
 * sides are integers; `~=` is treated as equality. An absent attribute makes an item false.
 */
export function matchesFilter(filter: Filter, attributes: Attributes): boolean {
  switch (filter.type) {
    case 'and':
      return filter.filters.every((f) => matchesFilter(f, attributes));
    case 'or':
      return filter.filters.some((f) => matchesFilter(f, attributes));
    case 'not':
      return !matchesFilter(filter.filter, attributes);
    case 'present':
      return values(attributes, filter.attribute).length > 0;
    default: {
      const exact = CASE_EXACT_ATTRIBUTES.has(baseName(filter.attribute));
      const norm = (v: string) => normalize(v, exact);
      const candidates = values(attributes, filter.attribute).map(norm);
      if (filter.type === 'substring') {
        return candidates.some((v) => matchesSubstring(v, filter.initial && norm(filter.initial), filter.any.map(norm), filter.final && norm(filter.final)));
      }
      const wanted = norm(filter.value);
      switch (filter.type) {
        case 'equal':
        case 'approx':
          return candidates.includes(wanted);
        case 'ge':
          return candidates.some((v) => compare(v, wanted) >= 0);
        case 'le':
          return candidates.some((v) => compare(v, wanted) <= 0);
      }
    }
  }
}

function baseName(attribute: string): string {
  return (attribute.split(';', 1)[0] ?? '').toLowerCase();
}

function values(attributes: Attributes, attribute: string): string[] {
  const wanted = attribute.toLowerCase();
  const found: string[] = [];
  for (const [name, list] of Object.entries(attributes)) {
    if (name.toLowerCase() === wanted) found.push(...list);
  }
  if (wanted === 'objectclass') {
    const implied = found.flatMap((oc) => IMPLIED_OBJECT_CLASSES[oc.toLowerCase()] ?? []);
    found.push(...implied, 'top');
  }
  return found;
}

function normalize(value: string, exact: boolean): string {
  if (exact) return value;
  return value.trim().replace(/ {2,}/g, ' ').toLowerCase();
}

function compare(a: string, b: string): number {
  if (INTEGER.test(a) && INTEGER.test(b)) {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function matchesSubstring(value: string, initial: string | undefined, any: readonly string[], final: string | undefined): boolean {
  let pos = 0;
  if (initial !== undefined) {
    if (!value.startsWith(initial)) return false;
    pos = initial.length;
  }
  for (const part of any) {
    const at = value.indexOf(part, pos);
    if (at < 0) return false;
    pos = at + part.length;
  }
  if (final !== undefined) {
    return value.length - final.length >= pos && value.endsWith(final);
  }
  return true;
}
