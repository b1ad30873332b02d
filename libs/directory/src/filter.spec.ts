import { describe, expect, it } from 'vitest';
import type { Attributes } from './directory';
import { DirectoryQueryError } from './errors';
import { escapeFilterValue, expandQueryTemplate, matchesFilter, parseFilter, templateVariables } from './filter';

describe('escapeFilterValue (RFC 4515 §3)', () => {
  it.each([
    ['alice@example.com', 'alice@example.com'],
    ['*', '\\2a'],
    ['(', '\\28'],
    [')', '\\29'],
    ['\\', '\\5c'],
    ['\0', '\\00'],
    ['*)(uid=*', '\\2a\\29\\28uid=\\2a'],
    ['*)(zimbraMailDeliveryAddress=*', '\\2a\\29\\28zimbraMailDeliveryAddress=\\2a'],
    ['a\\2a', 'a\\5c2a'],
    ['line\r\nbreak', 'line\\0d\\0abreak'],
    ['tab\there', 'tab\\09here'],
    ['\x7f', '\\7f'],
    ['é', '\\c3\\a9'],
    ['用户', '\\e7\\94\\a8\\e6\\88\\b7'],
    ['😀', '\\f0\\9f\\98\\80'],
    ['', ''],
  ])('%j → %j', (input, expected) => {
    expect(escapeFilterValue(input)).toBe(expected);
  });

  it('the output is printable ASCII without filter metacharacters', () => {
    const hostile = 'x*)(|(objectClass=*))\0\\\u0001ü😀';
    const escaped = escapeFilterValue(hostile);
    expect(escaped).toMatch(/^[\x20-\x7e]*$/);
    expect(escaped).not.toMatch(/[*()\0]/);
  });

  it('round-trips through the parser for any value', () => {
    for (const value of ['*)(uid=*', '\\', '\0', 'é@exämple.com', '😀', ' spaced ', 'a*b*c']) {
      expect(parseFilter(`(cn=${escapeFilterValue(value)})`)).toEqual({ type: 'equal', attribute: 'cn', value });
    }
  });
});

describe('expandQueryTemplate', () => {
  const template = '(|(zimbraMailDeliveryAddress=${USER})(zimbraMailAlias=${USER})(zimbraId=${USER}))';

  it('substitutes every occurrence, escaped', () => {
    expect(expandQueryTemplate(template, { USER: 'al@example.com' })).toBe(
      '(|(zimbraMailDeliveryAddress=al@example.com)(zimbraMailAlias=al@example.com)(zimbraId=al@example.com))',
    );
  });

  it.each(['*)(zimbraMailDeliveryAddress=*', '*', ')(|(objectClass=*)', '\\2a', 'x\0y', 'ünï@example.com'])(
    'hostile %j stays one equality value of each item',
    (user) => {
      const filter = parseFilter(expandQueryTemplate(template, { USER: user }));
      expect(filter).toEqual({
        type: 'or',
        filters: [
          { type: 'equal', attribute: 'zimbraMailDeliveryAddress', value: user },
          { type: 'equal', attribute: 'zimbraMailAlias', value: user },
          { type: 'equal', attribute: 'zimbraId', value: user },
        ],
      });
    },
  );

  it('several variables', () => {
    expect(expandQueryTemplate('(&(a=${DOMAIN})(b=${IPADDR}))', { DOMAIN: 'x(y', IPADDR: '10.0.0.1' })).toBe('(&(a=x\\28y)(b=10.0.0.1))');
  });

  it('a value containing a template variable is not expanded again', () => {
    expect(expandQueryTemplate('(a=${USER})(b=${HOST})', { USER: '${HOST}', HOST: 'h' })).toBe('(a=${HOST})(b=h)');
  });

  it('an undefined variable is an error, not an empty value', () => {
    expect(() => expandQueryTemplate('(a=${MAILHOST})', { USER: 'x' })).toThrow(DirectoryQueryError);
    expect(() => expandQueryTemplate('(a=${toString})', {})).toThrow(DirectoryQueryError);
  });

  it('lists the variables a template uses', () => {
    expect(templateVariables(template)).toEqual(['USER']);
    expect(templateVariables('(&(a=${A})(b=${B})(c=${A}))')).toEqual(['A', 'B']);
  });
});

describe('parseFilter', () => {
  it.each([
    ['(cn=alice)', { type: 'equal', attribute: 'cn', value: 'alice' }],
    ['(cn=*)', { type: 'present', attribute: 'cn' }],
    ['(cn=al*)', { type: 'substring', attribute: 'cn', initial: 'al', any: [], final: undefined }],
    ['(cn=*ce)', { type: 'substring', attribute: 'cn', initial: undefined, any: [], final: 'ce' }],
    ['(cn=a*l*i*e)', { type: 'substring', attribute: 'cn', initial: 'a', any: ['l', 'i'], final: 'e' }],
    ['(cn=*l*)', { type: 'substring', attribute: 'cn', initial: undefined, any: ['l'], final: undefined }],
    ['(port>=100)', { type: 'ge', attribute: 'port', value: '100' }],
    ['(port<=100)', { type: 'le', attribute: 'port', value: '100' }],
    ['(cn~=alise)', { type: 'approx', attribute: 'cn', value: 'alise' }],
    ['(cn;lang-de=x)', { type: 'equal', attribute: 'cn;lang-de', value: 'x' }],
    ['(2.5.4.3=x)', { type: 'equal', attribute: '2.5.4.3', value: 'x' }],
    ['(cn=)', { type: 'equal', attribute: 'cn', value: '' }],
    ['(cn=a\\2ab)', { type: 'equal', attribute: 'cn', value: 'a*b' }],
    ['(cn=\\C3\\A9)', { type: 'equal', attribute: 'cn', value: 'é' }],
    ['(cn=é)', { type: 'equal', attribute: 'cn', value: 'é' }],
    ['(cn=😀)', { type: 'equal', attribute: 'cn', value: '😀' }],
    ['(cn=a b)', { type: 'equal', attribute: 'cn', value: 'a b' }],
    ['(!(cn=a))', { type: 'not', filter: { type: 'equal', attribute: 'cn', value: 'a' } }],
    ['(&)', { type: 'and', filters: [] }],
    ['(|)', { type: 'or', filters: [] }],
    [
      '(&(objectClass=zimbraServer)(|(cn=a)(!(cn=b))))',
      {
        type: 'and',
        filters: [
          { type: 'equal', attribute: 'objectClass', value: 'zimbraServer' },
          {
            type: 'or',
            filters: [
              { type: 'equal', attribute: 'cn', value: 'a' },
              { type: 'not', filter: { type: 'equal', attribute: 'cn', value: 'b' } },
            ],
          },
        ],
      },
    ],
  ])('%s', (text, expected) => {
    expect(parseFilter(text)).toEqual(expected);
  });

  it.each([
    [''],
    ['cn=alice'],
    ['(cn=alice'],
    ['(cn=alice))'],
    ['(cn=alice)(cn=bob)'],
    ['(cn=a(b)'],
    ['(cn=a\\2)'],
    ['(cn=a\\zz)'],
    ['(cn=\\ff)'],
    ['(=x)'],
    ['(c n=x)'],
    ['(1cn=x)'],
    ['(cn)'],
    ['(cn>x)'],
    ['(cn:dn:=x)'],
    ['(cn:caseExactMatch:=x)'],
    ['(!(cn=a)(cn=b))'],
    ['(&(cn=a) (cn=b))'],
    ['(cn=a\0b)'],
    ['('.repeat(40) + 'cn=a' + ')'.repeat(40)],
    [`${'(!'.repeat(40)}(cn=a)${')'.repeat(40)}`],
  ])('rejects %j', (text) => {
    expect(() => parseFilter(text)).toThrow(DirectoryQueryError);
  });

  it('carries the filter on the error', () => {
    try {
      parseFilter('(cn=a');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(DirectoryQueryError);
      expect((error as DirectoryQueryError).query).toBe('(cn=a');
      expect((error as DirectoryQueryError).code).toBe('DIRECTORY_QUERY_INVALID');
    }
  });
});

describe('matchesFilter', () => {
  const entry: Attributes = {
    objectClass: ['inetOrgPerson', 'zimbraAccount'],
    zimbraMailDeliveryAddress: ['Alice@Example.com'],
    zimbraMailAlias: ['al@example.com', 'alice.smith@example.com'],
    cn: ['Alice  Smith'],
    zimbraImapBindPort: ['7143'],
    zimbraSSLPrivateKey: ['KeyData'],
  };
  const matches = (filter: string) => matchesFilter(parseFilter(filter), entry);

  it.each([
    ['(zimbraMailDeliveryAddress=alice@example.com)', true],
    ['(ZIMBRAMAILDELIVERYADDRESS=ALICE@EXAMPLE.COM)', true],
    ['(zimbraMailAlias=AL@example.com)', true],
    ['(zimbraMailAlias=alice.smith@example.com)', true],
    ['(zimbraMailAlias=bob@example.com)', false],
    ['(cn=alice smith)', true],
    ['(cn= Alice Smith )', true],
    ['(cn=alice*)', true],
    ['(cn=*smith)', true],
    ['(cn=*ice*mi*)', true],
    ['(cn=*mi*ice*)', false],
    ['(cn=alice*alice)', false],
    ['(zimbraMailAlias=*smith@*)', true],
    ['(objectClass=zimbraaccount)', true],
    ['(objectClass=person)', true],
    ['(objectClass=top)', true],
    ['(objectClass=zimbraServer)', false],
    ['(objectClass=*)', true],
    ['(zimbraMailHost=*)', false],
    ['(zimbraMailHost=x)', false],
    ['(!(zimbraMailHost=x))', true],
    ['(zimbraImapBindPort>=1000)', true],
    ['(zimbraImapBindPort<=999)', false],
    ['(zimbraImapBindPort>=10000)', false],
    ['(zimbraSSLPrivateKey=keydata)', false],
    ['(zimbraSSLPrivateKey=KeyData)', true],
    ['(&(objectClass=zimbraAccount)(zimbraMailAlias=al@example.com))', true],
    ['(&(objectClass=zimbraAccount)(zimbraMailAlias=zz@example.com))', false],
    ['(|(zimbraMailDeliveryAddress=x)(zimbraMailAlias=al@example.com))', true],
    ['(|(zimbraMailDeliveryAddress=\\2a)(zimbraMailAlias=\\2a))', false],
    ['(&)', true],
    ['(|)', false],
  ])('%s → %s', (filter, expected) => {
    expect(matches(filter)).toBe(expected);
  });
});
