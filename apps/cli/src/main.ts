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
import { cacheCommands } from './commands/cache';
import { configCommands } from './commands/config';
import { eventsCommands } from './commands/events';
import { restUrlCommand } from './commands/rest-url';
import { routeCommand } from './commands/route';
import { sessionsCommands } from './commands/sessions';
import { CliContext, CliError, ExitCode } from './context';

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
  configCommands(program, ctx);
  eventsCommands(program, ctx);
  routeCommand(program, ctx);
  cacheCommands(program, ctx);
  sessionsCommands(program, ctx);
  restUrlCommand(program, ctx);
  for (const command of program.commands) command.exitOverride();
  try {
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
