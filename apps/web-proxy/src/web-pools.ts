/**
 * The web proxy's two pools, as Zimbra's proxy config generator builds its `zimbra[_ssl]` and
 * `zimbra_login[_ssl]` upstream blocks:
 *
 * - the main pool serves requests that name no user: every server with
 *   `zimbraReverseProxyLookupTarget=TRUE` and a `zimbraMailMode`, at its web port (the attribute
 *   `zimbraReverseProxyHttp[SSL]PortAttribute` names, else the global `zimbraMail[SSL]Port`);
 *   `posternWebUpstreamPool`, when set, replaces it;
 * - the login pool (`zimbraReverseProxyUpstreamLoginServers`, server names) serves the login page
 *   and what surrounds it to clients without a token; empty, the main pool does.
 *
 * A server whose `zimbraMailMode` does not work behind this proxy's mode (the seed's table:
 * `zimbraReverseProxySSLToUpstreamEnabled` × `zimbraReverseProxyMailMode` × `zimbraMailMode`) is
 * left out whole, with an error line naming the three values, as `zmtlsctl` would refuse it.
 *
 * Read from the directory at start, on SIGHUP and once a minute (as Zimbra regenerates nginx's
 * configuration); a directory that cannot be read keeps the pools it had.
 */
import { mailModeProblem, type EffectiveSettings } from '@postern/config';
import { attr, type Server, type ZimbraDirectory } from '@postern/directory';
import type { Logger } from '@postern/service-kit';

/** How often the pools are read again without a SIGHUP. */
const REFRESH_INTERVAL_MS = 60_000;

export interface Pools {
  readonly main: readonly string[];
  readonly login: readonly string[];
}

/** A server left out of the pools, and why. */
export interface RefusedServer {
  readonly server: string;
  readonly problem: string;
}

/** The pools the directory's servers make under `s`; pure. */
export function poolsOf(servers: readonly Server[], s: EffectiveSettings): Pools & { readonly refused: readonly RefusedServer[] } {
  const ssl = s.zimbraReverseProxySSLToUpstreamEnabled;
  const [portAttribute, globalPort] = ssl
    ? [s.zimbraReverseProxyHttpSSLPortAttribute, s.zimbraMailSSLPort]
    : [s.zimbraReverseProxyHttpPortAttribute, s.zimbraMailPort];
  const loginNames = new Set(s.zimbraReverseProxyUpstreamLoginServers.map((name) => name.toLowerCase()));
  const isTarget = (server: Server) => attr(server.attributes, 'zimbraReverseProxyLookupTarget')?.toUpperCase() === 'TRUE';
  const isLogin = (server: Server) => loginNames.has(server.serviceHostname.toLowerCase()) || loginNames.has(server.name.toLowerCase());
  const refused: RefusedServer[] = [];
  // Only the proxy's own targets are held to its mode (zmtlsctl places no rule on other servers).
  const eligible = servers.filter((server) => {
    const mode = attr(server.attributes, 'zimbraMailMode');
    if (mode === undefined || !(isTarget(server) || isLogin(server))) return false;
    const problem = mailModeProblem(ssl, s.zimbraReverseProxyMailMode, mode);
    if (problem) refused.push({ server: server.name, problem });
    return !problem;
  });
  const member = (server: Server) => {
    const port = Number(attr(server.attributes, portAttribute) ?? globalPort);
    return `${server.serviceHostname.includes(':') ? `[${server.serviceHostname}]` : server.serviceHostname}:${port}`;
  };
  return {
    main: s.posternWebUpstreamPool.length > 0 ? s.posternWebUpstreamPool : eligible.filter(isTarget).map(member),
    login: eligible.filter(isLogin).map(member),
    refused,
  };
}

export class WebPools {
  private pools: Pools = { main: [], login: [] };
  private servers: readonly Server[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly directory: ZimbraDirectory | undefined,
    private readonly settings: () => EffectiveSettings,
    private readonly logger: Logger,
    private readonly onChange: (pools: Pools, refused: readonly RefusedServer[]) => void = () => undefined,
  ) {
    this.apply();
  }

  get main(): readonly string[] {
    return this.pools.main;
  }

  get login(): readonly string[] {
    return this.pools.login;
  }

  /** Reads the servers now, then every minute until {@link stop}. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), REFRESH_INTERVAL_MS).unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Reads the directory's servers again (keeping the last ones when it cannot be read) and rebuilds the pools. */
  async refresh(): Promise<void> {
    if (this.directory) {
      try {
        this.servers = await this.directory.listServers();
      } catch (error) {
        this.logger.warn({ err: error }, 'web: servers not read, the pools stay as they were');
      }
    }
    this.apply();
  }

  /** Rebuilds the pools from the servers last read, under the current settings. */
  apply(): void {
    const { main, login, refused } = poolsOf(this.servers, this.settings());
    for (const { server, problem } of refused) this.logger.error({ server }, `web: server left out of the pools: ${problem}`);
    const changed = main.join() !== this.pools.main.join() || login.join() !== this.pools.login.join();
    this.pools = { main, login };
    if (changed) this.logger.info({ main, login }, 'web: pools');
    this.onChange(this.pools, refused);
  }
}
