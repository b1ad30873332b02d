/** Generated directory accounts for the benchmarks: `bench<i>@example.com`, password-less (the mailbox servers decide). */

export interface BenchAccountsOptions {
  readonly count: number;
  /** The `zimbraMailHost` of account i. */
  readonly mailHost: (i: number) => string;
  /** Give each account the alias `b<i>@example.com` too. */
  readonly aliases?: boolean;
}

/** LDIF entries for the accounts, under the fixture's example.com domain. */
export function benchAccountsLdif({ count, mailHost, aliases = false }: BenchAccountsOptions): string {
  const entries: string[] = [];
  for (let i = 0; i < count; i++) {
    entries.push(
      [
        `dn: uid=bench${i},ou=people,dc=example.com,ou=domains,dc=postern,dc=test`,
        'objectClass: inetOrgPerson',
        'objectClass: zimbraAccount',
        `uid: bench${i}`,
        `cn: Bench ${i}`,
        'sn: Bench',
        `zimbraId: b0000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
        `zimbraMailDeliveryAddress: bench${i}@example.com`,
        ...(aliases ? [`zimbraMailAlias: b${i}@example.com`] : []),
        `zimbraMailHost: ${mailHost(i)}`,
        'zimbraAccountStatus: active',
      ].join('\n'),
    );
  }
  return entries.join('\n\n');
}

/** A mailbox server entry for the IMAP stand-in at host:port, and `users` accounts on it. */
export function standinDirectory(host: string, port: number, users: number): string {
  const server = [
    'dn: cn=standin,cn=servers,cn=zimbra,dc=postern,dc=test',
    'objectClass: zimbraServer',
    'cn: standin',
    'zimbraId: 5f0c2a1e-7d3b-4c8e-9a61-0b2d4e6f8b01',
    `zimbraServiceHostname: ${host}`,
    'zimbraServiceEnabled: mailbox',
    `zimbraImapBindPort: ${port}`,
    'zimbraReverseProxyLookupTarget: TRUE',
  ].join('\n');
  return `${server}\n\n${benchAccountsLdif({ count: users, mailHost: () => host })}\n`;
}
