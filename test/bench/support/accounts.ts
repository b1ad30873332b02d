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
