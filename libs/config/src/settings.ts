/**
 * Every directory setting Postern reads, by its Zimbra attribute name, with Zimbra's default
 * (see the reference on Zimbra's proxy) unless a comment says why Postern differs.
 *
 * Long on purpose: it is the registry, one entry per attribute, grouped by the part that reads
 * it; splitting it would scatter what an operator looks up in one place.
 */
import { OAuthSettings } from './oauth-settings';
import { GssapiSettings } from './gssapi-settings';
import { booleanSetting, durationSetting, enumSetting, integerSetting, listSetting, portSetting, stringSetting, type SettingDefinition } from './setting';

const gs = 'global+server' as const;
const HOST_PORT = {
  test: (v: string) => /^[A-Za-z0-9.-]{1,253}:\d{1,5}$|^\[[0-9A-Fa-f:.]+\]:\d{1,5}$/.test(v),
  accepted: 'host:port',
};
const IP_OR_CIDR = {
  // IPv4/IPv6 address, optionally with a prefix length; checked precisely where it is used.
  test: (v: string) => /^[0-9A-Fa-f:.]+(\/\d{1,3})?$/.test(v),
  accepted: 'IP addresses or CIDR blocks',
};

export const Settings = {
  // --- Route lookup and cache -------------------------------------------------------------
  zimbraReverseProxyCacheEntryTTL: durationSetting({
    attribute: 'zimbraReverseProxyCacheEntryTTL',
    default: '1h',
    hot: true,
    scope: gs,
    description: 'How long a cached route or alias lives in memcached (0 = until invalidated).',
  }),
  zimbraReverseProxyCacheFetchTimeout: durationSetting({
    attribute: 'zimbraReverseProxyCacheFetchTimeout',
    default: '3s',
    hot: false,
    scope: gs,
    description: 'Longest wait for a memcached reply before the server is marked down.',
  }),
  zimbraReverseProxyCacheReconnectInterval: durationSetting({
    attribute: 'zimbraReverseProxyCacheReconnectInterval',
    default: '1m',
    hot: false,
    scope: gs,
    description: 'How long a memcached server that failed is skipped before it is tried again.',
  }),
  zimbraReverseProxyRouteLookupTimeout: durationSetting({
    attribute: 'zimbraReverseProxyRouteLookupTimeout',
    default: '15s',
    hot: true,
    scope: gs,
    description: 'Longest time a route lookup may take, directory included; past it the client gets a temporary failure.',
  }),
  // Postern's own: the budget of one lookup over NATS inside the login's deadline, and when a late
  // answer is asked again of another instance (lookups are idempotent). A lost instance or bus then
  // costs a login at most this budget, not zimbraReverseProxyRouteLookupTimeout.
  posternRouteLookupRequestTimeout: durationSetting({
    attribute: 'posternRouteLookupRequestTimeout',
    default: '3s',
    maxMs: 600_000,
    hot: true,
    scope: gs,
    description:
      'Longest wait for one route lookup over NATS (hedge included), within the login deadline; then the login fails temporarily. Cached routes do not wait on it.',
  }),
  posternRouteLookupHedgeDelay: durationSetting({
    attribute: 'posternRouteLookupHedgeDelay',
    default: '500ms',
    maxMs: 600_000,
    hot: true,
    scope: gs,
    description: 'With no lookup answer after this delay, the lookup is sent once more to the route-lookup queue group (0 = never).',
  }),
  zimbraReverseProxyAuthWaitInterval: durationSetting({
    attribute: 'zimbraReverseProxyAuthWaitInterval',
    default: '10s',
    hot: true,
    scope: gs,
    description: 'Delay before a failed login is answered.',
  }),
  zimbraReverseProxyZmlookupCachingEnabled: booleanSetting({
    attribute: 'zimbraReverseProxyZmlookupCachingEnabled',
    default: true,
    hot: true,
    scope: gs,
    description: 'Whether routes are cached in memcached.',
  }),
  zimbraReverseProxySSLToUpstreamEnabled: booleanSetting({
    attribute: 'zimbraReverseProxySSLToUpstreamEnabled',
    default: true,
    hot: true,
    scope: gs,
    description: 'Talk TLS to the mailbox servers (and use their SSL ports).',
  }),
  // Zimbra resolves host names to addresses in the lookup (default TRUE). Postern returns the
  // name and lets the frontend resolve it (as Carbonio does): a route stays valid when DNS changes.
  zimbraReverseProxyDnsLookupInServerEnabled: booleanSetting({
    attribute: 'zimbraReverseProxyDnsLookupInServerEnabled',
    default: false,
    hot: true,
    scope: gs,
    description: 'Resolve the mailbox host name to an address in the lookup service.',
  }),
  zimbraDefaultDomainName: stringSetting({
    attribute: 'zimbraDefaultDomainName',
    default: '',
    hot: true,
    scope: 'global',
    maxLength: 255,
    description: 'Domain given to unqualified logins when no virtual IP or host matches.',
  }),
  zimbraReverseProxyMailHostQuery: stringSetting({
    attribute: 'zimbraReverseProxyMailHostQuery',
    default: '(|(zimbraMailDeliveryAddress=${USER})(zimbraMailAlias=${USER})(zimbraId=${USER}))',
    hot: true,
    scope: gs,
    description: 'LDAP filter finding an account by name, alias or id (${USER} is escaped).',
  }),
  zimbraReverseProxyMailHostSearchBase: stringSetting({
    attribute: 'zimbraReverseProxyMailHostSearchBase',
    default: '',
    hot: true,
    scope: gs,
    description: 'Search base for accounts (empty: the directory base).',
  }),
  zimbraReverseProxyMailHostAttribute: stringSetting({
    attribute: 'zimbraReverseProxyMailHostAttribute',
    default: 'zimbraMailHost',
    hot: true,
    scope: gs,
    description: 'Account attribute naming its mailbox server.',
  }),
  zimbraReverseProxyUserNameAttribute: stringSetting({
    attribute: 'zimbraReverseProxyUserNameAttribute',
    default: '',
    hot: true,
    scope: gs,
    description: 'Account attribute whose value replaces the upstream login name (empty: the account name).',
  }),
  zimbraReverseProxyPortQuery: stringSetting({
    attribute: 'zimbraReverseProxyPortQuery',
    default: '(&(zimbraServiceHostname=${MAILHOST})(objectClass=zimbraServer))',
    hot: true,
    scope: gs,
    description: 'LDAP filter finding a mailbox server by host name.',
  }),
  zimbraReverseProxyPortSearchBase: stringSetting({
    attribute: 'zimbraReverseProxyPortSearchBase',
    default: '',
    hot: true,
    scope: gs,
    description: 'Search base for servers (empty: the directory base).',
  }),
  zimbraReverseProxyDomainNameQuery: stringSetting({
    attribute: 'zimbraReverseProxyDomainNameQuery',
    default: '(&(zimbraVirtualIPAddress=${IPADDR})(objectClass=zimbraDomain))',
    hot: true,
    scope: gs,
    description: 'LDAP filter finding the domain of a virtual IP.',
  }),
  zimbraReverseProxyDomainNameSearchBase: stringSetting({
    attribute: 'zimbraReverseProxyDomainNameSearchBase',
    default: '',
    hot: true,
    scope: gs,
    description: 'Search base for domains (empty: the directory base).',
  }),
  zimbraReverseProxyDomainNameAttribute: stringSetting({
    attribute: 'zimbraReverseProxyDomainNameAttribute',
    default: 'zimbraDomainName',
    hot: true,
    scope: gs,
    description: 'Domain attribute holding its name.',
  }),
  zimbraReverseProxyImapPortAttribute: stringSetting({
    attribute: 'zimbraReverseProxyImapPortAttribute',
    default: 'zimbraImapBindPort',
    hot: true,
    scope: gs,
    description: 'Server attribute with the upstream IMAP port.',
  }),
  zimbraReverseProxyImapSSLPortAttribute: stringSetting({
    attribute: 'zimbraReverseProxyImapSSLPortAttribute',
    default: 'zimbraImapSSLBindPort',
    hot: true,
    scope: gs,
    description: 'Server attribute with the upstream IMAPS port.',
  }),
  zimbraReverseProxyPop3PortAttribute: stringSetting({
    attribute: 'zimbraReverseProxyPop3PortAttribute',
    default: 'zimbraPop3BindPort',
    hot: true,
    scope: gs,
    description: 'Server attribute with the upstream POP3 port.',
  }),
  zimbraReverseProxyPop3SSLPortAttribute: stringSetting({
    attribute: 'zimbraReverseProxyPop3SSLPortAttribute',
    default: 'zimbraPop3SSLBindPort',
    hot: true,
    scope: gs,
    description: 'Server attribute with the upstream POP3S port.',
  }),
  zimbraReverseProxyHttpPortAttribute: stringSetting({
    attribute: 'zimbraReverseProxyHttpPortAttribute',
    default: 'zimbraMailPort',
    hot: true,
    scope: gs,
    description: 'Server attribute with the upstream HTTP port.',
  }),
  zimbraReverseProxyHttpSSLPortAttribute: stringSetting({
    attribute: 'zimbraReverseProxyHttpSSLPortAttribute',
    default: 'zimbraMailSSLPort',
    hot: true,
    scope: gs,
    description: 'Server attribute with the upstream HTTPS port.',
  }),
  // Mailbox ports behind a proxy (zmproxyconfig moves the daemons here); the global values are
  // the fallback when a server entry lacks one.
  zimbraImapBindPort: portSetting({
    attribute: 'zimbraImapBindPort',
    default: 7143,
    hot: true,
    scope: gs,
    description: 'Mailbox IMAP port (fallback for servers without one).',
  }),
  zimbraImapSSLBindPort: portSetting({ attribute: 'zimbraImapSSLBindPort', default: 7993, hot: true, scope: gs, description: 'Mailbox IMAPS port.' }),
  zimbraPop3BindPort: portSetting({ attribute: 'zimbraPop3BindPort', default: 7110, hot: true, scope: gs, description: 'Mailbox POP3 port.' }),
  zimbraPop3SSLBindPort: portSetting({ attribute: 'zimbraPop3SSLBindPort', default: 7995, hot: true, scope: gs, description: 'Mailbox POP3S port.' }),
  zimbraMailPort: portSetting({ attribute: 'zimbraMailPort', default: 8080, hot: true, scope: gs, description: 'Mailbox HTTP port.' }),
  zimbraMailSSLPort: portSetting({ attribute: 'zimbraMailSSLPort', default: 8443, hot: true, scope: gs, description: 'Mailbox HTTPS port.' }),

  // --- Mail frontend ---------------------------------------------------------------------
  zimbraReverseProxyMailImapEnabled: booleanSetting({
    attribute: 'zimbraReverseProxyMailImapEnabled',
    default: true,
    hot: true,
    scope: gs,
    description: 'Listen for IMAP.',
  }),
  zimbraReverseProxyMailImapsEnabled: booleanSetting({
    attribute: 'zimbraReverseProxyMailImapsEnabled',
    default: true,
    hot: true,
    scope: gs,
    description: 'Listen for IMAPS.',
  }),
  zimbraReverseProxyMailPop3Enabled: booleanSetting({
    attribute: 'zimbraReverseProxyMailPop3Enabled',
    default: true,
    hot: true,
    scope: gs,
    description: 'Listen for POP3.',
  }),
  zimbraReverseProxyMailPop3sEnabled: booleanSetting({
    attribute: 'zimbraReverseProxyMailPop3sEnabled',
    default: true,
    hot: true,
    scope: gs,
    description: 'Listen for POP3S.',
  }),
  zimbraImapProxyBindPort: portSetting({ attribute: 'zimbraImapProxyBindPort', default: 143, hot: true, scope: gs, description: 'Proxy IMAP port.' }),
  zimbraImapSSLProxyBindPort: portSetting({ attribute: 'zimbraImapSSLProxyBindPort', default: 993, hot: true, scope: gs, description: 'Proxy IMAPS port.' }),
  zimbraPop3ProxyBindPort: portSetting({ attribute: 'zimbraPop3ProxyBindPort', default: 110, hot: true, scope: gs, description: 'Proxy POP3 port.' }),
  zimbraPop3SSLProxyBindPort: portSetting({ attribute: 'zimbraPop3SSLProxyBindPort', default: 995, hot: true, scope: gs, description: 'Proxy POP3S port.' }),
  zimbraReverseProxyImapStartTlsMode: enumSetting({
    attribute: 'zimbraReverseProxyImapStartTlsMode',
    default: 'only',
    values: ['only', 'on', 'off'],
    hot: true,
    scope: gs,
    description: 'STARTTLS on the IMAP port: required before login, offered, or not offered.',
  }),
  zimbraReverseProxyPop3StartTlsMode: enumSetting({
    attribute: 'zimbraReverseProxyPop3StartTlsMode',
    default: 'only',
    values: ['only', 'on', 'off'],
    hot: true,
    scope: gs,
    description: 'STLS on the POP3 port.',
  }),
  zimbraReverseProxyConnectTimeout: durationSetting({
    attribute: 'zimbraReverseProxyConnectTimeout',
    default: '120s',
    hot: true,
    scope: gs,
    description: 'Upstream connect + greeting timeout.',
  }),
  posternMailLoginTimeLimit: durationSetting({
    attribute: 'posternMailLoginTimeLimit',
    default: '3m',
    hot: true,
    scope: gs,
    description:
      'Longest time a mail client may stay connected without logging in, however busy it keeps the connection (the idle timer alone lets one byte a minute hold it forever); past it the client gets BYE / -ERR.',
  }),
  posternThrottledIpLogWindow: durationSetting({
    attribute: 'posternThrottledIpLogWindow',
    default: '1m',
    maxMs: 86_400_000,
    hot: true,
    scope: gs,
    description:
      "A client address refused by the IP limit at the greeting gets one audit line (outcome throttled-ip) per window; the window's other refusals are counted, and one line gives their number when it closes (0 = a line for every refusal).",
  }),
  zimbraReverseProxyPassErrors: booleanSetting({
    attribute: 'zimbraReverseProxyPassErrors',
    default: true,
    hot: true,
    scope: gs,
    description: "Relay the upstream's login error text to the client.",
  }),
  zimbraReverseProxyImapExposeVersionOnBanner: booleanSetting({
    attribute: 'zimbraReverseProxyImapExposeVersionOnBanner',
    default: false,
    hot: true,
    scope: gs,
    description: "Name the proxy's version in the IMAP greeting and ID reply.",
  }),
  zimbraReverseProxyPop3ExposeVersionOnBanner: booleanSetting({
    attribute: 'zimbraReverseProxyPop3ExposeVersionOnBanner',
    default: false,
    hot: true,
    scope: gs,
    description: "Name the proxy's version in the POP3 greeting.",
  }),
  zimbraReverseProxySendImapId: booleanSetting({
    attribute: 'zimbraReverseProxySendImapId',
    default: true,
    hot: true,
    scope: gs,
    description: 'Send ID with X-ORIGINATING-IP to the upstream IMAP server.',
  }),
  zimbraReverseProxySendPop3Xoip: booleanSetting({
    attribute: 'zimbraReverseProxySendPop3Xoip',
    default: true,
    hot: true,
    scope: gs,
    description: 'Send XOIP to the upstream POP3 server.',
  }),
  zimbraReverseProxyImapSaslPlainEnabled: booleanSetting({
    attribute: 'zimbraReverseProxyImapSaslPlainEnabled',
    default: true,
    hot: true,
    scope: gs,
    description: 'Offer AUTH=PLAIN on IMAP.',
  }),
  zimbraReverseProxyPop3SaslPlainEnabled: booleanSetting({
    attribute: 'zimbraReverseProxyPop3SaslPlainEnabled',
    default: true,
    hot: true,
    scope: gs,
    description: 'Offer SASL PLAIN on POP3.',
  }),
  zimbraReverseProxyImapEnabledCapability: listSetting({
    attribute: 'zimbraReverseProxyImapEnabledCapability',
    default: ['IMAP4rev1', 'ID', 'LITERAL+', 'SASL-IR', 'IDLE', 'NAMESPACE'],
    hot: true,
    scope: gs,
    description: 'Capabilities announced before login.',
  }),
  zimbraReverseProxyPop3EnabledCapability: listSetting({
    attribute: 'zimbraReverseProxyPop3EnabledCapability',
    default: ['TOP', 'USER', 'UIDL', 'EXPIRE 31 USER', 'XOIP'],
    hot: true,
    scope: gs,
    description: 'POP3 CAPA lines before login.',
  }),
  zimbraReverseProxyMailMode: enumSetting({
    attribute: 'zimbraReverseProxyMailMode',
    default: 'both',
    values: ['http', 'https', 'both', 'mixed', 'redirect'],
    hot: true,
    scope: gs,
    description: 'Web proxy mode.',
  }),
  // --- Web frontend ----------------------------------------------------------------------
  zimbraMailProxyPort: portSetting({ attribute: 'zimbraMailProxyPort', default: 80, hot: true, scope: gs, description: 'Proxy HTTP port (the web proxy).' }),
  zimbraMailSSLProxyPort: portSetting({
    attribute: 'zimbraMailSSLProxyPort',
    default: 443,
    hot: true,
    scope: gs,
    description: 'Proxy HTTPS port (the web proxy).',
  }),
  posternWebUpstreamPool: listSetting({
    attribute: 'posternWebUpstreamPool',
    default: [],
    item: HOST_PORT,
    hot: true,
    scope: gs,
    description:
      'Web proxy: the pool for requests that name no user (static files, pages), as host:port, in place of the one read from the directory (servers with zimbraReverseProxyLookupTarget=TRUE and a zimbraMailMode). Chosen by client-address hash, skipping failed ones.',
  }),
  zimbraReverseProxyUpstreamLoginServers: listSetting({
    attribute: 'zimbraReverseProxyUpstreamLoginServers',
    default: [],
    item: { test: (v: string) => /^[A-Za-z0-9.-]{1,253}$/.test(v), accepted: 'server names' },
    hot: true,
    scope: gs,
    description:
      'Web proxy: the servers (zimbraServiceHostname or cn) of the login pool, which serves the login page and everything outside the mailbox paths to a client without a ZM_AUTH_TOKEN cookie (and loginOp=logout|relogin always). Empty: the main pool serves those too.',
  }),
  posternWebTrustedProxies: listSetting({
    attribute: 'posternWebTrustedProxies',
    default: [],
    item: IP_OR_CIDR,
    hot: true,
    scope: gs,
    description: 'Peers (a load balancer in front) whose X-Forwarded-For/-Proto/-Port the web proxy believes; anyone else has them replaced.',
  }),
  posternSessionEndOnAccountStatus: booleanSetting({
    attribute: 'posternSessionEndOnAccountStatus',
    default: true,
    hot: true,
    scope: gs,
    description:
      'End the open mail sessions of an account whose zimbraAccountStatus leaves active (closed, locked...) with `* BYE` / `-ERR`, as soon as the config-watcher sees it, instead of letting them run until they log out.',
  }),
  posternSessionEndOnMove: booleanSetting({
    attribute: 'posternSessionEndOnMove',
    default: false,
    hot: true,
    scope: gs,
    description:
      'End the open mail sessions of an account whose mailbox server changed (zimbraMailHost), so its clients reconnect to the new server; off by default, as a move usually keeps the old server reachable until the clients leave.',
  }),
  posternProxyProtocolTrustedNetworks: listSetting({
    attribute: 'posternProxyProtocolTrustedNetworks',
    default: [],
    item: IP_OR_CIDR,
    hot: true,
    scope: gs,
    description:
      "Load balancers whose connections to the mail and web listeners must begin with a PROXY protocol header (v1 or v2) naming the real client, as Dovecot's haproxy_trusted_networks; connections from anywhere else are served as they are.",
  }),
  zimbraReverseProxyUpstreamConnectTimeout: durationSetting({
    attribute: 'zimbraReverseProxyUpstreamConnectTimeout',
    default: '25s',
    hot: true,
    scope: gs,
    description: 'Web proxy: time to connect to a mailbox server.',
  }),
  zimbraReverseProxyUpstreamReadTimeout: durationSetting({
    attribute: 'zimbraReverseProxyUpstreamReadTimeout',
    default: '60s',
    hot: true,
    scope: gs,
    description: 'Web proxy: longest wait for the response headers of a mailbox server, and between two reads of its body.',
  }),
  posternWebRouteMemo: durationSetting({
    attribute: 'posternWebRouteMemo',
    default: '5s',
    hot: true,
    scope: gs,
    description:
      'Web proxy: how long each worker keeps a route it has just used (per account, virtual host and client address) before asking the shared cache again; 0 = every request asks.',
  }),
  zimbraMailProxyMaxFails: integerSetting({
    attribute: 'zimbraMailProxyMaxFails',
    default: 1,
    min: 0,
    max: 1000,
    hot: true,
    scope: gs,
    description: 'Web proxy: failed attempts within zimbraMailProxyReconnectTimeout that take a pool server out for that long (0 = never).',
  }),
  zimbraMailProxyReconnectTimeout: durationSetting({
    attribute: 'zimbraMailProxyReconnectTimeout',
    default: '10s',
    hot: true,
    scope: gs,
    description: 'Web proxy: how long a failing pool server stays out (nginx fail_timeout).',
  }),
  posternWebHealthCheckInterval: durationSetting({
    attribute: 'posternWebHealthCheckInterval',
    default: '5s',
    hot: true,
    scope: gs,
    description: 'Web proxy: how often each pool server is connected to; one that cannot be reached is out until it can (0 = no active check).',
  }),
  zimbraReverseProxyStrictServerNameEnabled: booleanSetting({
    attribute: 'zimbraReverseProxyStrictServerNameEnabled',
    default: false,
    hot: true,
    scope: gs,
    description: 'Web proxy: answer 400 to a request whose Host is neither this server (POSTERN_SERVER_NAME) nor a domain zimbraVirtualHostname.',
  }),
  zimbraReverseProxyUpstreamPollingTimeout: durationSetting({
    attribute: 'zimbraReverseProxyUpstreamPollingTimeout',
    default: '3600s',
    hot: true,
    scope: gs,
    description: 'Web proxy: read timeout of the long-poll routes (ActiveSync, EWS), which hold a request open until mail arrives.',
  }),
  posternWebWaitSetTimeout: durationSetting({
    attribute: 'posternWebWaitSetTimeout',
    default: '1220s',
    hot: true,
    scope: gs,
    description:
      'Web proxy: read timeout of /service/soap/WaitSetRequest and NoOpRequest (the mailbox holds them up to zimbra_waitset_max_request_timeout, 1200 s, plus 20 s).',
  }),
  posternWebTunnelIdleTimeout: durationSetting({
    attribute: 'posternWebTunnelIdleTimeout',
    default: '3600s',
    hot: true,
    scope: gs,
    description:
      "Web proxy: an upgraded connection (WebSocket) with no byte either way for this long is closed, as nginx's proxy_read_timeout closes one; the default is the long-poll routes' read timeout (zimbraReverseProxyUpstreamPollingTimeout).",
  }),
  posternWebTunnelHalfCloseTimeout: durationSetting({
    attribute: 'posternWebTunnelHalfCloseTimeout',
    default: '30s',
    hot: true,
    scope: gs,
    description:
      "Web proxy: once one side of an upgraded connection has closed its half, how long the other may still send before both are closed (HAProxy's timeout client-fin / server-fin).",
  }),
  posternWebClientKeepAliveTimeout: durationSetting({
    attribute: 'posternWebClientKeepAliveTimeout',
    default: '75s',
    hot: true,
    scope: gs,
    description: "Web proxy: how long a client's idle HTTP/1.1 connection is kept open for its next request (nginx's keepalive_timeout, 75 s).",
  }),
  posternWebClientHeaderTimeout: durationSetting({
    attribute: 'posternWebClientHeaderTimeout',
    default: '20s',
    maxMs: 600_000,
    hot: true,
    scope: gs,
    description: 'Web proxy: longest time a client may take to send a request head (slowloris); past it the connection gets 408 and is closed.',
  }),
  posternWebHttp2: booleanSetting({
    attribute: 'posternWebHttp2',
    default: true,
    hot: false,
    scope: gs,
    description:
      'Web proxy: offer HTTP/2 (ALPN h2) beside HTTP/1.1 on the HTTPS listener, as nginx and HAProxy do; requests go on to the mailbox servers over HTTP/1.1.',
  }),
  posternWebHttp2MaxConcurrentStreams: integerSetting({
    attribute: 'posternWebHttp2MaxConcurrentStreams',
    default: 128,
    min: 1,
    max: 10_000,
    hot: false,
    scope: gs,
    description: "Web proxy: the streams one HTTP/2 client may have open at once (nginx's http2_max_concurrent_streams, 128).",
  }),
  posternWebAccessLog: stringSetting({
    attribute: 'posternWebAccessLog',
    default: 'stdout',
    maxLength: 4096,
    pattern: /^(?:stdout|off|\/.+)$/,
    accepted: 'stdout, off, or an absolute file path',
    hot: true,
    scope: gs,
    description:
      'Web proxy: where the access log goes (one JSON line per request, and per upgraded connection at its end): stdout beside the service log, an absolute file path (re-opened on SIGHUP, for log rotation), or off.',
  }),
  zimbraReverseProxyErrorHandlerURL: stringSetting({
    attribute: 'zimbraReverseProxyErrorHandlerURL',
    default: '',
    hot: true,
    scope: gs,
    description: 'Web proxy: where a 502/504 is redirected (with ?err=<code>&up=<server>) instead of the proxy page; empty: the page.',
  }),
  zimbraReverseProxyResponseHeaders: listSetting({
    attribute: 'zimbraReverseProxyResponseHeaders',
    default: [],
    item: { test: (v: string) => /^[A-Za-z0-9!#$%&'*+.^_`|~-]+:[ \t]*[^\r\n\x00]*$/.test(v), accepted: 'header lines "Name: value"' },
    hot: true,
    scope: gs,
    description: 'Web proxy: headers added to every response (HSTS and the like), as "Name: value".',
  }),
  zimbraMailTrustedIP: listSetting({
    attribute: 'zimbraMailTrustedIP',
    default: [],
    item: IP_OR_CIDR,
    hot: true,
    scope: 'global',
    description: 'Addresses whose forwarded client IP the mailbox trusts (the proxies).',
  }),

  // --- Login throttle ----------------------------------------------------------------------
  zimbraReverseProxyIPLoginLimit: integerSetting({
    attribute: 'zimbraReverseProxyIPLoginLimit',
    default: 0,
    min: 0,
    max: 1_000_000_000,
    hot: true,
    scope: gs,
    description: 'Logins per IP per window (0 = unlimited).',
  }),
  zimbraReverseProxyIPLoginLimitTime: integerSetting({
    attribute: 'zimbraReverseProxyIPLoginLimitTime',
    default: 3600,
    min: 1,
    max: 31_536_000,
    hot: true,
    scope: gs,
    description: 'IP window in seconds.',
  }),
  zimbraReverseProxyIPLoginImapLimit: integerSetting({
    attribute: 'zimbraReverseProxyIPLoginImapLimit',
    default: 0,
    min: 0,
    max: 1_000_000_000,
    hot: true,
    scope: gs,
    description: 'IMAP logins per IP per window (0 = use the generic limit).',
  }),
  zimbraReverseProxyIPLoginImapLimitTime: integerSetting({
    attribute: 'zimbraReverseProxyIPLoginImapLimitTime',
    default: 3600,
    min: 1,
    max: 31_536_000,
    hot: true,
    scope: gs,
    description: 'IMAP IP window in seconds.',
  }),
  zimbraReverseProxyIPLoginPop3Limit: integerSetting({
    attribute: 'zimbraReverseProxyIPLoginPop3Limit',
    default: 0,
    min: 0,
    max: 1_000_000_000,
    hot: true,
    scope: gs,
    description: 'POP3 logins per IP per window (0 = use the generic limit).',
  }),
  zimbraReverseProxyIPLoginPop3LimitTime: integerSetting({
    attribute: 'zimbraReverseProxyIPLoginPop3LimitTime',
    default: 3600,
    min: 1,
    max: 31_536_000,
    hot: true,
    scope: gs,
    description: 'POP3 IP window in seconds.',
  }),
  zimbraReverseProxyIpThrottleMsg: stringSetting({
    attribute: 'zimbraReverseProxyIpThrottleMsg',
    default: 'Login rejected from this IP',
    maxLength: 256,
    pattern: /^[^\r\n]*$/,
    accepted: 'one line of text',
    hot: true,
    scope: gs,
    description: 'What a throttled IP is told.',
  }),
  zimbraReverseProxyUserLoginLimit: integerSetting({
    attribute: 'zimbraReverseProxyUserLoginLimit',
    default: 0,
    min: 0,
    max: 1_000_000_000,
    hot: true,
    scope: gs,
    description: 'Successful logins per user per window (0 = unlimited).',
  }),
  zimbraReverseProxyUserLoginLimitTime: integerSetting({
    attribute: 'zimbraReverseProxyUserLoginLimitTime',
    default: 3600,
    min: 1,
    max: 31_536_000,
    hot: true,
    scope: gs,
    description: 'User window in seconds.',
  }),
  zimbraReverseProxyUserThrottleMsg: stringSetting({
    attribute: 'zimbraReverseProxyUserThrottleMsg',
    default: 'Login rejected for this user',
    maxLength: 256,
    pattern: /^[^\r\n]*$/,
    accepted: 'one line of text',
    hot: true,
    scope: gs,
    description: 'What a throttled user is told.',
  }),
  zimbraReverseProxyIPThrottleWhitelist: listSetting({
    attribute: 'zimbraReverseProxyIPThrottleWhitelist',
    default: [],
    item: IP_OR_CIDR,
    hot: true,
    scope: gs,
    description: 'Addresses and CIDR blocks never throttled.',
  }),
  // Postern's own, beyond Zimbra: failed logins per user and per IP in their own windows (so a
  // password-guessing run is stopped without counting a NAT gateway's honest logins), and what the
  // throttle does when it cannot count.
  posternFailedLoginUserLimit: integerSetting({
    attribute: 'posternFailedLoginUserLimit',
    default: 0,
    min: 0,
    max: 1_000_000_000,
    hot: true,
    scope: gs,
    description:
      'Failed logins per user per window before pre-login checks for that user are refused (0 = off). Lets a stranger lock a user out: keep it off or high.',
  }),
  posternFailedLoginUserLimitTime: integerSetting({
    attribute: 'posternFailedLoginUserLimitTime',
    default: 900,
    min: 1,
    max: 31_536_000,
    hot: true,
    scope: gs,
    description: 'Per-user failed-login window in seconds (15 minutes: slows a guessing run, lets a user who mistyped back in soon).',
  }),
  posternFailedLoginIpLimit: integerSetting({
    attribute: 'posternFailedLoginIpLimit',
    default: 0,
    min: 0,
    max: 1_000_000_000,
    hot: true,
    scope: gs,
    description: 'Failed logins per client IP (IPv6: per /64) per window before pre-login checks from it are refused (0 = off).',
  }),
  posternFailedLoginIpLimitTime: integerSetting({
    attribute: 'posternFailedLoginIpLimitTime',
    default: 900,
    min: 1,
    max: 31_536_000,
    hot: true,
    scope: gs,
    description: 'Per-IP failed-login window in seconds.',
  }),
  // Where a frontend's checks are decided. Both count in the same memcached windows, so nodes of
  // either kind enforce one limit together. Local by default: every check is a memcached round
  // trip either way, and asking the service adds a NATS round trip and the service's work to
  // each (a quarter to two fifths of the login rate in bench:mail, against at most 7 %), and leaves
  // the limits to the fail mode while the bus is down. The service answers frontends configured to ask it.
  posternThrottleChecks: enumSetting({
    attribute: 'posternThrottleChecks',
    default: 'local',
    values: ['local', 'service'],
    hot: false,
    scope: gs,
    description:
      "local: each frontend decides its checks itself against the shared memcached counters, with the login-throttle service's rules (no NATS round trip; the limits hold while NATS is down). service: frontends ask the login-throttle service over NATS (a round trip per check). Read at start.",
  }),
  posternThrottleFailClosed: booleanSetting({
    attribute: 'posternThrottleFailClosed',
    default: false,
    hot: true,
    scope: gs,
    description:
      'When the throttle cannot count or cannot be asked (memcached, every throttle instance or NATS down, or no answer within posternThrottleCheckTimeout): FALSE allows (as Zimbra), TRUE denies with the IP throttle message.',
  }),
  // The budget of one check over NATS: a lost throttle instance or bus costs a login at most this
  // (then the fail mode decides), not the login's whole deadline. Capped at 10 s: the service keeps
  // a check's id for de-duplication longer than that (see apps/login-throttle).
  posternThrottleCheckTimeout: durationSetting({
    attribute: 'posternThrottleCheckTimeout',
    default: '1s',
    maxMs: 10_000,
    hot: true,
    scope: gs,
    description: 'Longest wait for one throttle check over NATS (hedge included), within the login deadline; then posternThrottleFailClosed decides.',
  }),
  posternThrottleCheckHedgeDelay: durationSetting({
    attribute: 'posternThrottleCheckHedgeDelay',
    default: '100ms',
    maxMs: 10_000,
    hot: true,
    scope: gs,
    description:
      'With no throttle answer after this delay, the check is sent once more to the login-throttle queue group; the service counts it once (0 = never).',
  }),
  // --- OAuth 2.0 bearer-token logins (OAUTHBEARER, XOAUTH2) ---------------------------------
  ...OAuthSettings,
  // --- Kerberos (SASL GSSAPI) logins -------------------------------------------------------
  ...GssapiSettings,
} as const satisfies Record<string, SettingDefinition<unknown>>;

export type SettingName = keyof typeof Settings;
export type SettingValue<K extends SettingName> = (typeof Settings)[K] extends SettingDefinition<infer T> ? T : never;
/** The effective value of every setting. */
export type EffectiveSettings = { readonly [K in SettingName]: SettingValue<K> };

/** Looks a setting up by attribute name, case-insensitively (LDAP attribute names are). */
export function findSetting(attribute: string): SettingDefinition<unknown> | undefined {
  const lower = attribute.toLowerCase();
  for (const def of Object.values(Settings) as SettingDefinition<unknown>[]) if (def.attribute.toLowerCase() === lower) return def;
  return undefined;
}
