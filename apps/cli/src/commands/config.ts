/**
 * `postern config show` and `postern config check`: the effective config as the config bucket
 * holds it (what every service runs on, before each node's own config file), where each value
 * comes from, and whether it passes every type and the seed's mail-mode table, as `zmtlsctl`.
 */
import type { Command } from 'commander';
import { ConfigError, mailModeProblem, resolveSettings, Settings, type AttributeValues, type EffectiveSettings } from '@postern/config';
import { ConfigBucket, configKey, type ConfigEntry } from '@postern/contracts';
import { attr } from '@postern/directory';
import { CliError, ExitCode, type CliContext } from '../context';
import { printJson, printTable } from '../output';

type Source = 'default' | 'global' | 'server';

function has(values: AttributeValues | undefined, attribute: string): boolean {
  return values !== undefined && Object.keys(values).some((k) => k.toLowerCase() === attribute.toLowerCase());
}

function display(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Every entry of the bucket, malformed ones named. */
async function bucket(context: CliContext): Promise<Map<string, ConfigEntry>> {
  const { entries, malformed } = await (await context.configStore()).entries();
  if (malformed.length > 0) process.stderr.write(`warning: malformed values in ${ConfigBucket.name}, ignored: ${malformed.join(', ')}\n`);
  return entries;
}

export function configCommands(program: Command, context: () => CliContext): void {
  const config = program.command('config').description('the effective config in the postern-config bucket');

  config
    .command('show')
    .description("each setting's value on a node and where it comes from (default, global config, the server entry); a node's own config file is not included")
    .option('--server <name>', "the node's zimbraServiceHostname (its server entry overrides the global config)")
    .option('--json', 'print JSON')
    .action(async (options: { server?: string; json?: boolean }) => {
      const entries = await bucket(context());
      const global = entries.get(ConfigBucket.globalKey);
      const server = options.server ? entries.get(configKey('server', options.server)) : undefined;
      if (options.server && !server)
        throw new CliError(`no server entry ${options.server} in ${ConfigBucket.name}; see: postern config check`, ExitCode.failed);
      let settings: EffectiveSettings;
      try {
        settings = resolveSettings({ global: global?.attributes, server: server?.attributes });
      } catch (error) {
        throw new CliError(`the stored config does not resolve: ${(error as Error).message}`, ExitCode.config);
      }
      const rows = Object.entries(Settings).map(([key, def]) => {
        const source: Source = has(server?.attributes, def.attribute) ? 'server' : has(global?.attributes, def.attribute) ? 'global' : 'default';
        return { attribute: def.attribute, value: settings[key as keyof EffectiveSettings], source, hot: def.hot };
      });
      const sequence = Math.max(0, ...[...entries.values()].map((e) => e.sequence));
      if (options.json) return printJson({ server: options.server ?? null, sequence, settings: rows });
      process.stdout.write(`config sequence ${sequence}${options.server ? `, server ${options.server}` : ', global config'}\n`);
      printTable(
        ['ATTRIBUTE', 'SOURCE', 'VALUE'],
        rows.map((r) => [r.attribute, r.source, display(r.value)]),
      );
    });

  config
    .command('check')
    .description(
      "every server's settings against their types and ranges, and each lookup target's zimbraMailMode against the seed's table (exit 1 on a problem)",
    )
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const entries = await bucket(context());
      const global = entries.get(ConfigBucket.globalKey)?.attributes ?? {};
      const servers = [...entries.values()].filter((e) => e.scope === 'server');
      const results: { entry: string; problems: string[] }[] = [];
      const resolve = (server?: AttributeValues): { settings?: EffectiveSettings; problems: string[] } => {
        try {
          return { settings: resolveSettings({ global, server }), problems: [] };
        } catch (error) {
          return { problems: error instanceof ConfigError ? error.problems.map((p) => p.message) : [(error as Error).message] };
        }
      };
      const cluster = resolve();
      results.push({ entry: 'global', problems: cluster.problems });
      for (const server of servers) {
        const own = resolve(server.attributes);
        const problems = [...own.problems];
        const mode = attr(server.attributes, 'zimbraMailMode');
        const target = attr(server.attributes, 'zimbraReverseProxyLookupTarget')?.toUpperCase() === 'TRUE';
        if (cluster.settings && mode !== undefined && target) {
          const problem = mailModeProblem(cluster.settings.zimbraReverseProxySSLToUpstreamEnabled, cluster.settings.zimbraReverseProxyMailMode, mode);
          if (problem) problems.push(problem);
        }
        results.push({ entry: `server ${server.entry}`, problems });
      }
      const failed = results.filter((r) => r.problems.length > 0);
      if (options.json) printJson({ ok: failed.length === 0, results });
      else
        printTable(
          ['ENTRY', 'RESULT'],
          results.map((r) => [r.entry, r.problems.length === 0 ? 'ok' : r.problems.join('; ')]),
        );
      if (failed.length > 0) process.exitCode = ExitCode.failed;
    });
}
