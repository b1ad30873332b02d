/**
 * `postern config show` and `postern config check`.
 *
 * show: every setting's value on a node and where it comes from, as the node resolves it
 * (default < global config < its server entry < its config file's `attributes`), with the node's
 * own bootstrap values from its environment and config file, and the values a roll-back pinned.
 * Durations print as an operator writes them (`10s`, `60m`). check: see `./config-check`.
 */
import type { Command } from 'commander';
import {
  bootstrapOrigins,
  formatDuration,
  resolveSettings,
  Settings,
  type AttributeValues,
  type BootstrapConfig,
  type EffectiveSettings,
  type SettingDefinition,
} from '@postern/config';
import { ConfigBucket, configKey, type ConfigEntry } from '@postern/contracts';
import { CliError, ExitCode, type CliContext } from '../context';
import { printJson, printTable } from '../output';
import { configCheck } from './config-check';
import { pinnedValues } from './watcher-state';

type Source = 'default' | 'global' | 'server' | 'file';

function valueIn(values: Readonly<Record<string, unknown>> | undefined, attribute: string): unknown {
  if (!values) return undefined;
  const key = Object.keys(values).find((k) => k.toLowerCase() === attribute.toLowerCase());
  return key === undefined ? undefined : values[key];
}

function display(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A value as the operator wrote it where it was set: a duration as `10s`, not 10000. */
function written(def: SettingDefinition<unknown>, value: unknown, raw: unknown, source: Source): string {
  if (def.defaultText === undefined) return display(value);
  if (source === 'default') return def.defaultText;
  const text: unknown = Array.isArray(raw) ? (raw as unknown[])[0] : raw;
  return typeof text === 'string' ? text.trim() : formatDuration(value as number);
}

/** Every entry of the bucket, malformed ones named. */
export async function bucket(context: CliContext): Promise<Map<string, ConfigEntry>> {
  const { entries, malformed } = await (await context.configStore()).entries();
  if (malformed.length > 0) process.stderr.write(`warning: malformed values in ${ConfigBucket.name}, ignored: ${malformed.join(', ')}\n`);
  return entries;
}

function nodeRows(bootstrap: BootstrapConfig) {
  return bootstrapOrigins(process.env).map(({ name, source }) => {
    const value = bootstrap[name];
    const shown =
      name === 'ldapBindPassword' || name === 'masterAuthPassword'
        ? value === undefined
          ? 'not set'
          : '(set)'
        : Array.isArray(value)
          ? value.join(',')
          : (value ?? '');
    return { name, value: String(shown), source };
  });
}

export function configCommands(program: Command, context: () => CliContext): void {
  const config = program.command('config').description('the effective config: the postern-config bucket, the directory, and this node');

  config
    .command('show')
    .description(
      "each setting's value on a node and where it comes from (default, global config, the server entry, the node's config file), the node's own settings from its environment and config file, and values a roll-back pinned",
    )
    .option('--server <name>', "the node's zimbraServiceHostname (default: POSTERN_SERVER_NAME; its server entry overrides the global config)")
    .option('--json', 'print JSON')
    .action(async (options: { server?: string; json?: boolean }) => {
      const ctx = context();
      const entries = await bucket(ctx);
      const serverName = options.server ?? ctx.bootstrap.serverName;
      const global = entries.get(ConfigBucket.globalKey);
      const server = serverName ? entries.get(configKey('server', serverName)) : undefined;
      if (options.server && !server)
        throw new CliError(`no server entry ${options.server} in ${ConfigBucket.name}; see: postern config check`, ExitCode.failed);
      const file = ctx.bootstrap.attributes;
      let settings: EffectiveSettings;
      try {
        settings = resolveSettings({ global: global?.attributes, server: server?.attributes, overrides: file });
      } catch (error) {
        throw new CliError(`the config does not resolve: ${(error as Error).message}`, ExitCode.config);
      }
      const layers: [Source, Readonly<Record<string, unknown>> | AttributeValues | undefined][] = [
        ['file', file],
        ['server', server?.attributes],
        ['global', global?.attributes],
      ];
      const rows = Object.entries(Settings).map(([key, def]) => {
        const found = layers.find(([, values]) => valueIn(values, def.attribute) !== undefined);
        const source: Source = found?.[0] ?? 'default';
        const value = settings[key as keyof EffectiveSettings];
        const text = written(def, value, found ? valueIn(found[1], def.attribute) : undefined, source);
        return { attribute: def.attribute, value, text, source, hot: def.hot };
      });
      const sequence = Math.max(0, ...[...entries.values()].map((e) => e.sequence));
      const node = nodeRows(ctx.bootstrap);
      const pinned = await pinnedValues(ctx);
      if (options.json)
        return printJson({ server: serverName ?? null, configFile: process.env.POSTERN_CONFIG_FILE ?? null, sequence, settings: rows, node, pinned });
      process.stdout.write(
        `config sequence ${sequence}${serverName ? `, server ${serverName}` : ', global config'}` +
          `${process.env.POSTERN_CONFIG_FILE ? `, config file ${process.env.POSTERN_CONFIG_FILE}` : ''}\n`,
      );
      printTable(
        ['ATTRIBUTE', 'SOURCE', 'VALUE'],
        rows.map((r) => [r.attribute, r.source, r.text]),
      );
      process.stdout.write('\nthis node (environment and config file)\n');
      printTable(
        ['SETTING', 'SOURCE', 'VALUE'],
        node.map((n) => [n.name, n.source, n.value]),
      );
      if (pinned.length > 0) {
        process.stdout.write('\npinned by a roll-back (held until the directory changes them)\n');
        printTable(
          ['ENTRY', 'ATTRIBUTE', 'HELD', 'DIRECTORY'],
          pinned.map((p) => [p.key, p.attribute, JSON.stringify(p.held), JSON.stringify(p.directory)]),
        );
      }
    });

  config
    .command('check')
    .description(
      "the directory as it is now (read only), validated with the config watcher's rules: each refused value named, with the event that refused it; values a roll-back pinned; exit 1 when anything is refused",
    )
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => configCheck(context(), options));
}
