/**
 * `postern cache purge`: every cached route and alias of an account, or of every account of a
 * domain, out of the shared cache, and every process told (`postern.route.invalidate.v1`), as
 * Zimbra's `zmproxypurge`. The accounts' names, aliases and ids come from the directory.
 */
import type { Command } from 'commander';
import { RouteInvalidateContract, type RouteInvalidation } from '@postern/contracts';
import { attr, attrs, type Account } from '@postern/directory';
import { RouteCache } from '@postern/route-cache';
import { publishEvent } from '@postern/service-kit/client';
import { CliError, ExitCode, fromDirectory, type CliContext } from '../context';
import { printJson, progress, progressDone } from '../output';

function invalidationOf(names: string[], aliases: readonly string[], id: string | undefined): RouteInvalidation {
  const accountNames = [...new Set(names.map((n) => n.toLowerCase()))];
  return { accountNames, accountId: id, logins: [...new Set([...accountNames, ...aliases.map((a) => a.toLowerCase())])], reason: 'purge' };
}

export function cacheCommands(program: Command, context: () => CliContext): void {
  const cache = program.command('cache');
  cache
    .command('purge')
    .description('drop every cached route and alias of an account (or of every account of --domain) and tell every process, as zmproxypurge')
    .argument('[account]', 'an account name, alias or zimbraId')
    .option('--domain <domain>', 'every account of this domain')
    .option('--json', 'print JSON')
    .action(async (account: string | undefined, options: { domain?: string; json?: boolean }) => {
      if (account === undefined && options.domain === undefined)
        throw new CliError(
          'name what to purge: an account (its name, an alias or its zimbraId), or --domain DOMAIN for every account of a domain',
          ExitCode.usage,
        );
      if (account !== undefined && options.domain !== undefined)
        throw new CliError(`name an account (${account}) or --domain (${options.domain}), not both`, ExitCode.usage);
      const ctx = context();
      const directory = ctx.directory();
      const invalidations: RouteInvalidation[] = [];
      if (account !== undefined) {
        const found: Account | null = await fromDirectory(ctx, () => directory.findAccount(account));
        if (!found) throw new CliError(`no account ${account} in the directory`, ExitCode.failed);
        invalidations.push(invalidationOf([found.name], found.aliases, found.id));
      } else {
        const domain = await fromDirectory(ctx, () => directory.findDomainByName(options.domain!));
        if (!domain) throw new CliError(`no domain ${options.domain} in the directory`, ExitCode.failed);
        const entries = await fromDirectory(ctx, () =>
          ctx
            .directoryBackend()
            .search('(objectClass=zimbraAccount)', { base: domain.dn, attributes: ['zimbraMailDeliveryAddress', 'zimbraMailAlias', 'zimbraId'] }),
        );
        for (const entry of entries) {
          const name = attr(entry.attributes, 'zimbraMailDeliveryAddress');
          if (name) invalidations.push(invalidationOf([name], attrs(entry.attributes, 'zimbraMailAlias'), attr(entry.attributes, 'zimbraId')));
        }
      }
      const nc = await ctx.nats();
      let failures = 0;
      const routes = new RouteCache(ctx.memcached(), { onError: () => failures++ });
      let deleted = 0;
      for (const [i, invalidation] of invalidations.entries()) {
        const [first] = invalidation.accountNames;
        if (first) deleted += await routes.invalidate({ accountName: first, accountId: invalidation.accountId, logins: invalidation.logins });
        publishEvent(nc, RouteInvalidateContract, invalidation);
        if (invalidations.length > 20) progress(`purged ${i + 1} of ${invalidations.length} accounts`);
      }
      await nc.flush();
      if (invalidations.length > 20) progressDone(`purged ${invalidations.length} accounts`);
      if (failures > 0)
        throw new CliError(
          `memcached (${ctx.bootstrap.memcachedServers.join(', ')}) failed ${failures} deletes; run the purge again once it answers`,
          ExitCode.unavailable,
        );
      const accounts = invalidations.flatMap((i) => i.accountNames);
      if (options.json) return printJson({ accounts, entriesDeleted: deleted });
      process.stdout.write(
        `purged ${accounts.length} account${accounts.length === 1 ? '' : 's'} (${deleted} cache entr${deleted === 1 ? 'y' : 'ies'} deleted): ${accounts.join(', ')}\n`,
      );
    });
}
