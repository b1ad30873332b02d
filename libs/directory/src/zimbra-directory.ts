/**
 * The Zimbra query layer: the lookups Zimbra's nginx lookup extension makes (reference/
 * zimbra-internals.md §1.4), over any {@link DirectoryBackend}. Query templates and attribute names
 * are configurable exactly as Zimbra's `zimbraReverseProxy*Query/SearchBase/Attribute` settings;
 * every value put into a template is escaped (no filter injection).
 */
import type { Attributes, DirectoryBackend, DirectoryEntry, SearchOptions } from './directory';
import { DirectoryConfigError, DirectoryQueryError, DirectoryUnavailableError } from './errors';
import { expandQueryTemplate, parseFilter, templateVariables } from './filter';

/** Query templates, search bases and attribute names (Zimbra's `zimbraReverseProxy*` settings). */
export interface ZimbraQueries {
  /** `zimbraReverseProxyMailHostQuery`; `${USER}` is the login name or account id. */
  readonly mailHostQuery: string;
  /** `zimbraReverseProxyMailHostSearchBase`; `''` = the backend's base. */
  readonly mailHostSearchBase: string;
  /** `zimbraReverseProxyMailHostAttribute`: the attribute naming the mailbox host. */
  readonly mailHostAttribute: string;
  /** `zimbraReverseProxyUserNameAttribute`: when set, its value is the login name used upstream. */
  readonly userNameAttribute?: string | undefined;
  /** `zimbraReverseProxyPortQuery`; `${MAILHOST}` is the mailbox host. */
  readonly portQuery: string;
  /** `zimbraReverseProxyPortSearchBase`; `''` = the backend's base. */
  readonly portSearchBase: string;
  /** `zimbraReverseProxyDomainNameQuery`; `${IPADDR}` is the proxy address the client reached. */
  readonly domainNameQuery: string;
  /** `zimbraReverseProxyDomainNameSearchBase`; `''` = the backend's base. */
  readonly domainNameSearchBase: string;
  /** `zimbraReverseProxyDomainNameAttribute`: the attribute holding the domain name. */
  readonly domainNameAttribute: string;
}

/** Zimbra's defaults for {@link ZimbraQueries}. */
export const DEFAULT_ZIMBRA_QUERIES: ZimbraQueries = Object.freeze({
  mailHostQuery: '(|(zimbraMailDeliveryAddress=${USER})(zimbraMailAlias=${USER})(zimbraId=${USER}))',
  mailHostSearchBase: '',
  mailHostAttribute: 'zimbraMailHost',
  userNameAttribute: undefined,
  portQuery: '(&(zimbraServiceHostname=${MAILHOST})(objectClass=zimbraServer))',
  portSearchBase: '',
  domainNameQuery: '(&(zimbraVirtualIPAddress=${IPADDR})(objectClass=zimbraDomain))',
  domainNameSearchBase: '',
  domainNameAttribute: 'zimbraDomainName',
});

/** An account as the route lookup needs it. */
export interface Account {
  readonly dn: string;
  /** `zimbraId`. */
  readonly id: string;
  /** `zimbraMailDeliveryAddress`, the canonical name. */
  readonly name: string;
  /** `zimbraMailAlias` values. */
  readonly aliases: readonly string[];
  /** Value of the configured mail-host attribute; undefined when the account has none. */
  readonly mailHost: string | undefined;
  /** Value of the configured user-name attribute, when one is configured and set. */
  readonly userName?: string;
  /** `zimbraAccountStatus`; `'active'` when absent. */
  readonly status: string;
  /** Every attribute of the entry (external-route settings and the like). */
  readonly attributes: Attributes;
}

/** A mail domain. */
export interface Domain {
  readonly dn: string;
  readonly id: string;
  /** Value of the configured domain-name attribute (default `zimbraDomainName`). */
  readonly name: string;
  /** `zimbraDomainType`; `'local'` when absent. */
  readonly type: 'local' | 'alias';
  /** `zimbraDomainAliasTargetId` of an alias domain. */
  readonly aliasTargetId?: string;
  readonly virtualHostnames: readonly string[];
  readonly virtualIps: readonly string[];
  /** `zimbraDomainAllowedIPs`: addresses or CIDRs; empty = no restriction. */
  readonly allowedIps: readonly string[];
  readonly attributes: Attributes;
}

/** A server entry (mailbox, proxy...). */
export interface Server {
  readonly dn: string;
  /** `cn`. */
  readonly name: string;
  readonly serviceHostname: string;
  readonly attributes: Attributes;
}

/** First value of an attribute, name compared case-insensitively. */
export function attr(attributes: Attributes, name: string): string | undefined {
  return attrs(attributes, name)[0];
}

/** Every value of an attribute, name compared case-insensitively (empty when absent). */
export function attrs(attributes: Attributes, name: string): string[] {
  const wanted = name.toLowerCase();
  const found: string[] = [];
  for (const [key, values] of Object.entries(attributes)) {
    if (key.toLowerCase() === wanted) found.push(...values);
  }
  return found;
}

const HOSTNAME_QUERY = '(&(zimbraVirtualHostname=${HOST})(objectClass=zimbraDomain))';
const DOMAIN_NAME_QUERY = '(&(zimbraDomainName=${DOMAIN})(objectClass=zimbraDomain))';
const DOMAIN_ID_QUERY = '(&(zimbraId=${ID})(objectClass=zimbraDomain))';
const FOREIGN_PRINCIPAL_QUERY = '(zimbraForeignPrincipal=${PRINCIPAL})';
const KERBEROS_REALM_QUERY = '(&(zimbraAuthKerberos5Realm=${REALM})(objectClass=zimbraDomain))';
const SERVERS_QUERY = '(objectClass=zimbraServer)';
const GLOBAL_CONFIG_QUERY = '(objectClass=zimbraGlobalConfig)';

/** Which variable each configurable template may use. */
const TEMPLATE_VARIABLES: Readonly<Record<'mailHostQuery' | 'portQuery' | 'domainNameQuery', string>> = {
  mailHostQuery: 'USER',
  portQuery: 'MAILHOST',
  domainNameQuery: 'IPADDR',
};

/**
 * Zimbra lookups over a directory backend. Lookups resolve to `null` when nothing matches;
 * directory failures reject with {@link DirectoryUnavailableError} (never `null`: an outage is not
 * "user not found").
 */
export class ZimbraDirectory {
  readonly queries: ZimbraQueries;

  /**
   * @throws DirectoryConfigError when a template is not a valid filter or uses a variable other
   *   than its own (`${USER}`, `${MAILHOST}`, `${IPADDR}`), so that bad settings fail at boot.
   */
  constructor(
    private readonly backend: DirectoryBackend,
    queries: Partial<ZimbraQueries> = {},
  ) {
    this.queries = { ...DEFAULT_ZIMBRA_QUERIES, ...definedOnly(queries) };
    for (const [key, variable] of Object.entries(TEMPLATE_VARIABLES) as [keyof typeof TEMPLATE_VARIABLES, string][]) {
      validateTemplate(key, this.queries[key], variable);
    }
  }

  /** Account by delivery address, alias or zimbraId (`mailHostQuery`, size limit 1). */
  async findAccount(nameOrId: string): Promise<Account | null> {
    if (nameOrId === '') return null;
    const filter = expandQueryTemplate(this.queries.mailHostQuery, { USER: nameOrId });
    const entry = await this.searchOne(filter, this.queries.mailHostSearchBase);
    return entry ? this.toAccount(entry) : null;
  }

  /**
   * Account whose `zimbraForeignPrincipal` is `value` (`kerberos5:alice@REALM`, as Zimbra's
   * Krb5Principal looks up a GSSAPI principal).
   */
  async findAccountByForeignPrincipal(value: string): Promise<Account | null> {
    if (value === '') return null;
    const entry = await this.searchOne(expandQueryTemplate(FOREIGN_PRINCIPAL_QUERY, { PRINCIPAL: value }), this.queries.mailHostSearchBase);
    return entry ? this.toAccount(entry) : null;
  }

  /** Domain whose `zimbraAuthKerberos5Realm` is `realm`: its users are that realm's principals. */
  async findDomainByKerberosRealm(realm: string): Promise<Domain | null> {
    if (realm === '') return null;
    return this.findDomain(expandQueryTemplate(KERBEROS_REALM_QUERY, { REALM: realm }));
  }

  private toAccount(entry: DirectoryEntry): Account {
    const a = entry.attributes;
    const userName = this.queries.userNameAttribute ? attr(a, this.queries.userNameAttribute) : undefined;
    return {
      dn: entry.dn,
      id: attr(a, 'zimbraId') ?? '',
      name: attr(a, 'zimbraMailDeliveryAddress') ?? '',
      aliases: attrs(a, 'zimbraMailAlias'),
      mailHost: attr(a, this.queries.mailHostAttribute),
      ...(userName === undefined ? {} : { userName }),
      status: attr(a, 'zimbraAccountStatus') ?? 'active',
      attributes: a,
    };
  }

  /** Domain whose `zimbraVirtualIPAddress` is the proxy address the client connected to (`domainNameQuery`). */
  async findDomainByVirtualIp(ip: string): Promise<Domain | null> {
    if (ip === '') return null;
    return this.findDomain(expandQueryTemplate(this.queries.domainNameQuery, { IPADDR: ip }));
  }

  /** Domain whose `zimbraVirtualHostname` is the HTTP Host / TLS SNI name. */
  async findDomainByVirtualHostname(host: string): Promise<Domain | null> {
    if (host === '') return null;
    return this.findDomain(expandQueryTemplate(HOSTNAME_QUERY, { HOST: host }));
  }

  /** Domain by `zimbraDomainName`. */
  async findDomainByName(name: string): Promise<Domain | null> {
    if (name === '') return null;
    return this.findDomain(expandQueryTemplate(DOMAIN_NAME_QUERY, { DOMAIN: name }));
  }

  /** Domain by `zimbraId` (e.g. an alias domain's `zimbraDomainAliasTargetId`). */
  async findDomainById(id: string): Promise<Domain | null> {
    if (id === '') return null;
    return this.findDomain(expandQueryTemplate(DOMAIN_ID_QUERY, { ID: id }));
  }

  /** Server whose `zimbraServiceHostname` is the account's mail host (`portQuery`). */
  async findServer(serviceHostname: string): Promise<Server | null> {
    if (serviceHostname === '') return null;
    const filter = expandQueryTemplate(this.queries.portQuery, { MAILHOST: serviceHostname });
    const entry = await this.searchOne(filter, this.queries.portSearchBase);
    return entry ? toServer(entry) : null;
  }

  /** Every server entry under the port search base. */
  async listServers(): Promise<Server[]> {
    const entries = await this.search(SERVERS_QUERY, { ...base(this.queries.portSearchBase) });
    return entries.map(toServer);
  }

  /** Attributes of the global config entry; empty when the directory has none. */
  async globalConfig(): Promise<Attributes> {
    const entry = await this.searchOne(GLOBAL_CONFIG_QUERY, '');
    return entry?.attributes ?? {};
  }

  private async findDomain(filter: string): Promise<Domain | null> {
    const entry = await this.searchOne(filter, this.queries.domainNameSearchBase);
    if (!entry) return null;
    const a = entry.attributes;
    const aliasTargetId = attr(a, 'zimbraDomainAliasTargetId');
    return {
      dn: entry.dn,
      id: attr(a, 'zimbraId') ?? '',
      name: attr(a, this.queries.domainNameAttribute) ?? attr(a, 'zimbraDomainName') ?? '',
      type: attr(a, 'zimbraDomainType')?.toLowerCase() === 'alias' ? 'alias' : 'local',
      ...(aliasTargetId === undefined ? {} : { aliasTargetId }),
      virtualHostnames: attrs(a, 'zimbraVirtualHostname'),
      virtualIps: attrs(a, 'zimbraVirtualIPAddress'),
      allowedIps: attrs(a, 'zimbraDomainAllowedIPs'),
      attributes: a,
    };
  }

  private async searchOne(filter: string, searchBase: string): Promise<DirectoryEntry | undefined> {
    const entries = await this.search(filter, { ...base(searchBase), sizeLimit: 1 });
    return entries[0];
  }

  private async search(filter: string, options: SearchOptions): Promise<DirectoryEntry[]> {
    try {
      return await this.backend.search(filter, options);
    } catch (error) {
      if (error instanceof DirectoryUnavailableError || error instanceof DirectoryQueryError) throw error;
      throw new DirectoryUnavailableError(`directory search failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
}

function toServer(entry: DirectoryEntry): Server {
  const a = entry.attributes;
  return { dn: entry.dn, name: attr(a, 'cn') ?? '', serviceHostname: attr(a, 'zimbraServiceHostname') ?? '', attributes: a };
}

/** `''` means "the backend's base": leave `base` out so the backend applies its default. */
function base(searchBase: string): { base?: string } {
  return searchBase === '' ? {} : { base: searchBase };
}

function definedOnly(queries: Partial<ZimbraQueries>): Partial<ZimbraQueries> {
  return Object.fromEntries(Object.entries(queries).filter(([, value]) => value !== undefined));
}

function validateTemplate(key: string, template: string, variable: string): void {
  const unknown = templateVariables(template).filter((name) => name !== variable);
  if (unknown.length > 0) {
    throw new DirectoryConfigError(`${key}: unknown variable(s) ${unknown.map((n) => `\${${n}}`).join(', ')}; only \${${variable}} is defined`);
  }
  try {
    // A sample value exercises the template the way a lookup will.
    parseFilter(expandQueryTemplate(template, { [variable]: 'sample' }));
  } catch (cause) {
    throw new DirectoryConfigError(`${key} is not a valid LDAP filter template: ${template}`, { cause });
  }
}
