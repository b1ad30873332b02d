#!/usr/bin/env node
/**
 * postern: the operator's command line. Finds NATS, memcached and the directory as the services
 * do (POSTERN_* variables, POSTERN_CONFIG_FILE). Exit codes: 0 done; 1 a check failed or what was
 * asked for does not exist; 64 a usage error; 69 a server could not be reached; 78 the
 * configuration is invalid. `--json` on every command that prints data.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { CliContext, CliError, ExitCode } from './context';

type Register = (program: Command, context: () => CliContext) => void;

/**
 * Every command, with the one-line summary `postern --help` lists. A command's module (and the
 * clients it needs: NATS, JetStream, LDAP, memcached) is loaded only when that command runs, so a
 * command starts in the time Node itself takes, plus its own libraries.
 */
const COMMANDS: readonly { name: string; summary: string; load: () => Promise<Register> }[] = [
  {
    name: 'config',
    summary: "a node's effective config and where each value comes from; the directory's config checked",
    load: async () => (await import('./commands/config.js')).configCommands,
  },
  { name: 'events', summary: 'the config history on POSTERN_CONFIG', load: async () => (await import('./commands/events.js')).eventsCommands },
  {
    name: 'route',
    summary: "a login's route (mailbox server, port, account) and where it came from: the shared cache or the directory",
    load: async () => (await import('./commands/route.js')).routeCommand,
  },
  { name: 'cache', summary: 'the shared route cache (memcached)', load: async () => (await import('./commands/cache.js')).cacheCommands },
  {
    name: 'sessions',
    summary: 'the live (spliced) mail sessions of every mail-proxy node',
    load: async () => (await import('./commands/sessions.js')).sessionsCommands,
  },
  {
    name: 'rest-url',
    summary: "an account's REST URL (its home folder), by the domain's public service settings or its home server",
    load: async () => (await import('./commands/rest-url.js')).restUrlCommand,
  },
];

/** The command word of `argv` (after the program's own options), or of `help <command>`. */
function commandWord(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--nats') i++;
    else if (arg === 'help') return args[i + 1];
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function main(argv: readonly string[]): Promise<number> {
  let context: CliContext | undefined;
  const program = new Command('postern')
    .description('Postern operations: effective config, config events and roll-back, routes, the route cache, live mail sessions, REST URLs')
    .version(version())
    .option('--nats <urls>', 'NATS server URLs, comma-separated (default: POSTERN_NATS_URLS, else nats://127.0.0.1:4222)')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  const ctx = () => (context ??= new CliContext({ nats: program.opts<{ nats?: string }>().nats }));
  try {
    const word = commandWord(argv.slice(2));
    for (const { name, summary, load } of COMMANDS) {
      if (name !== word) {
        // Listed by `postern --help`, never run: the command word names another one.
        program.command(name).description(summary);
        continue;
      }
      (await load())(program, ctx);
      const command = program.commands.at(-1)!;
      if (!command.description()) command.description(summary);
    }
    for (const command of program.commands) command.exitOverride();
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with their own output already written.
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (error instanceof CliError) {
      process.stderr.write(`postern: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`postern: ${(error as Error).stack ?? String(error)}\n`);
    return 70; // EX_SOFTWARE
  } finally {
    await context?.close();
  }
}

void main(process.argv).then((code) => process.exit(code));
