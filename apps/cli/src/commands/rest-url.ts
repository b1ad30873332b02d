/**
 * `postern rest-url ACCOUNT`: the account's REST URL by the seed's rule (libs/rest-url, as the web
 * proxy has it): the domain's zimbraPublicService* (else the global config's), else its home
 * server's mode, zimbraServiceHostname and the port of that protocol.
 */
import type { Command } from 'commander';
import { attr } from '@postern/directory';
import { restUrl, RestUrlError } from '@postern/rest-url';
import { CliError, ExitCode, fromDirectory, type CliContext } from '../context';
import { printJson } from '../output';

const port = (value: string | undefined) => (value === undefined ? undefined : Number(value));

export function restUrlCommand(program: Command, context: () => CliContext): void {
  program
    .command('rest-url')
    .argument('<account>', 'an account name or alias')
    .argument('[path]', 'a path in the home folder, e.g. /Inbox?fmt=rss', '')
    .option('--json', 'print JSON')
    .action(async (name: string, path: string, options: { json?: boolean }) => {
      const ctx = context();
      const directory = ctx.directory();
      const account = await fromDirectory(ctx, () => directory.findAccount(name));
      if (!account) throw new CliError(`no account ${name} in the directory`, ExitCode.failed);
      const domainName = account.name.slice(account.name.indexOf('@') + 1);
      const [domain, global, server] = await fromDirectory(ctx, () =>
        Promise.all([
          directory.findDomainByName(domainName),
          directory.globalConfig(),
          account.mailHost ? directory.findServer(account.mailHost) : Promise.resolve(null),
        ]),
      );
      const pick = (attribute: string) => (domain ? attr(domain.attributes, attribute) : undefined) ?? attr(global, attribute);
      // Said here, where the account is known: the rule below only sees that there is no server.
      if (!server && !pick('zimbraPublicServiceHostname'))
        throw new CliError(
          account.mailHost
            ? `${account.name}: its zimbraMailHost ${account.mailHost} names no server entry, and no zimbraPublicServiceHostname is set`
            : `${account.name} has no zimbraMailHost (no home server), and no zimbraPublicServiceHostname is set`,
          ExitCode.failed,
        );
      const fromServer = (attribute: string) => (server ? attr(server.attributes, attribute) : undefined) ?? attr(global, attribute);
      let url: string;
      try {
        url = restUrl(
          {
            account: account.name,
            publicService: {
              hostname: pick('zimbraPublicServiceHostname'),
              protocol: pick('zimbraPublicServiceProtocol'),
              port: port(pick('zimbraPublicServicePort')),
            },
            homeServer: server
              ? {
                  serviceHostname: server.serviceHostname,
                  mailMode: fromServer('zimbraMailMode'),
                  mailPort: port(fromServer('zimbraMailPort')),
                  mailSslPort: port(fromServer('zimbraMailSSLPort')),
                }
              : undefined,
          },
          path,
        );
      } catch (error) {
        if (error instanceof RestUrlError) throw new CliError(`${account.name}: ${error.message}`, ExitCode.failed);
        throw error;
      }
      if (options.json) printJson({ account: account.name, url });
      else process.stdout.write(`${url}\n`);
    });
}
