/**
 * `postern route USER`: where a login goes and where that answer came from, read the way a
 * frontend reads it: the shared cache first, else the route-lookup service over NATS (which reads
 * the directory and fills the cache).
 */
import type { Command } from 'commander';
import { RouteLookupContract, RouteProtocolSchema, type RouteProtocol } from '@postern/contracts';
import { RouteCache, routeForLogin } from '@postern/route-cache';
import { requestReply } from '@postern/service-kit';
import { CliError, ExitCode, type CliContext } from '../context';
import { printJson, printTable } from '../output';

const LOOKUP_TIMEOUT_MS = 5_000;

export function routeCommand(program: Command, context: () => CliContext): void {
  program
    .command('route')
    .description("a login's route (mailbox server, port, account) and where it came from: the shared cache or the directory")
    .argument('<user>', 'a login as a client types it (name, alias or name@domain)')
    .option('--protocol <protocol>', `one of ${RouteProtocolSchema.options.join(', ')}`, 'imap')
    .option('--client-ip <ip>', 'the client address the lookup is made for (zimbraDomainAllowedIPs)', '127.0.0.1')
    .option('--proxy-ip <ip>', 'the proxy address the client reached (qualifies an unqualified login by zimbraVirtualIPAddress)')
    .option('--json', 'print JSON')
    .action(async (user: string, options: { protocol: string; clientIp: string; proxyIp?: string; json?: boolean }) => {
      const parsed = RouteProtocolSchema.safeParse(options.protocol);
      if (!parsed.success)
        throw new CliError(`--protocol: ${JSON.stringify(options.protocol)}; accepted: ${RouteProtocolSchema.options.join(', ')}`, ExitCode.usage);
      const protocol: RouteProtocol = parsed.data;
      const ctx = context();
      const cache = new RouteCache(ctx.memcached());
      const cached = await routeForLogin(cache, protocol, user, options.proxyIp ? { proxyIp: options.proxyIp } : {}).catch(() => null);
      let answer: { outcome: string; source: string; route?: object; reason?: string };
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
      if (options.json) printJson({ user, protocol, ...answer });
      else if (answer.route) printTable(['USER', 'PROTOCOL', 'ROUTE', 'SOURCE'], [[user, protocol, describe(answer.route), answer.source]]);
      else process.stdout.write(`${user} (${protocol}): ${answer.outcome}${answer.reason ? ` (${answer.reason})` : ''}, from the ${answer.source}\n`);
      if (answer.outcome !== 'ROUTE') process.exitCode = ExitCode.failed;
    });
}

function describe(route: object): string {
  const r = route as { host: string; port: number; accountName: string; upstreamUser?: string };
  return `${r.host}:${r.port} as ${r.upstreamUser ?? r.accountName}`;
}
