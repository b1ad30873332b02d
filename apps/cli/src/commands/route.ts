/**
 * `postern route USER [PROTOCOL]`: where a login goes and where that answer came from, read the
 * way a frontend reads it: the shared cache first, else the route-lookup service over NATS (which
 * reads the directory and fills the cache).
 */
import type { Command } from 'commander';
import { RouteLookupContract, RouteProtocolSchema, type RouteProtocol } from '@postern/contracts';
import { RouteCache, routeForLogin } from '@postern/route-cache';
import { requestReply } from '@postern/service-kit/client';
import { CliError, ExitCode, type CliContext } from '../context';
import { printJson, printTable } from '../output';

const LOOKUP_TIMEOUT_MS = 5_000;
const DEFAULT_PROTOCOL: RouteProtocol = 'imap';

interface Answer {
  readonly outcome: string;
  readonly source: string;
  readonly route?: object;
  readonly reason?: string;
}

/** The protocol named as an argument or with --protocol (the same one if both), else imap. */
function protocolOf(positional: string | undefined, option: string | undefined): RouteProtocol {
  if (positional !== undefined && option !== undefined && positional !== option)
    throw new CliError(`the protocol is named twice (${positional}, --protocol ${option}); name it once`, ExitCode.usage);
  const named = positional ?? option ?? DEFAULT_PROTOCOL;
  const parsed = RouteProtocolSchema.safeParse(named);
  if (!parsed.success) throw new CliError(`protocol ${JSON.stringify(named)}; accepted: ${RouteProtocolSchema.options.join(', ')}`, ExitCode.usage);
  return parsed.data;
}

/** How an unqualified name is given its domain, as a frontend gives it. */
function qualification(proxyIp: string | undefined): string {
  return proxyIp
    ? `the domain whose zimbraVirtualIPAddress is ${proxyIp}, else zimbraDefaultDomainName`
    : 'zimbraDefaultDomainName (a mail client reaching a virtual IP gets that domain instead: add --proxy-ip)';
}

export function routeCommand(program: Command, context: () => CliContext): void {
  program
    .command('route')
    .argument('<user>', 'a login as a client types it (name, alias or name@domain)')
    .argument('[protocol]', `one of ${RouteProtocolSchema.options.join(', ')} (default ${DEFAULT_PROTOCOL})`)
    .option('--protocol <protocol>', 'the protocol, as an option')
    .option('--client-ip <ip>', 'the client address the lookup is made for (zimbraDomainAllowedIPs)', '127.0.0.1')
    .option('--proxy-ip <ip>', 'the proxy address the client reached (qualifies an unqualified login by zimbraVirtualIPAddress)')
    .option('--json', 'print JSON')
    .action(async (user: string, positional: string | undefined, options: { protocol?: string; clientIp: string; proxyIp?: string; json?: boolean }) => {
      const protocol = protocolOf(positional, options.protocol);
      const ctx = context();
      const cache = new RouteCache(ctx.memcached());
      const cached = await routeForLogin(cache, protocol, user, options.proxyIp ? { proxyIp: options.proxyIp } : {}).catch(() => null);
      let answer: Answer;
      if (cached) answer = { outcome: 'ROUTE', source: 'shared cache', route: cached };
      else {
        const nc = await ctx.nats();
        let result;
        try {
          result = await requestReply(
            nc,
            RouteLookupContract,
            { by: 'name', user, protocol, clientIp: options.clientIp, ...(options.proxyIp ? { proxyIp: options.proxyIp } : {}) },
            LOOKUP_TIMEOUT_MS,
          );
        } catch (error) {
          throw new CliError(
            `the route-lookup service did not answer on ${ctx.bootstrap.natsUrls.join(', ')}: ${(error as Error).message}`,
            ExitCode.unavailable,
          );
        }
        answer =
          result.outcome === 'ROUTE'
            ? { outcome: 'ROUTE', source: result.source === 'cache' ? 'shared cache (via route-lookup)' : 'directory (via route-lookup)', route: result.route }
            : { outcome: result.outcome, source: 'directory (via route-lookup)', ...('reason' in result ? { reason: result.reason } : {}) };
      }
      const unqualified = !user.includes('@');
      if (options.json) printJson({ user, protocol, ...answer, ...(unqualified ? { qualifiedBy: qualification(options.proxyIp) } : {}) });
      else {
        if (answer.route) printTable(['USER', 'PROTOCOL', 'ROUTE', 'SOURCE'], [[user, protocol, describe(answer.route), answer.source]]);
        else process.stdout.write(`${user} (${protocol}): ${answer.outcome}${answer.reason ? ` (${answer.reason})` : ''}, from the ${answer.source}\n`);
        if (unqualified) process.stdout.write(`${user} is unqualified: its domain comes from ${qualification(options.proxyIp)}\n`);
      }
      if (answer.outcome !== 'ROUTE') process.exitCode = ExitCode.failed;
    });
}

function describe(route: object): string {
  const r = route as { host: string; port: number; accountName: string; upstreamUser?: string };
  return `${r.host}:${r.port} as ${r.upstreamUser ?? r.accountName}`;
}
