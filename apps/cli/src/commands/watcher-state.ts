/** The config-watcher's state bucket (roll-back pins), for the commands that read or set pins. */
import { ConfigStoreMissingError, WatcherState } from '@postern/config-store';
import { CliError, ExitCode, type CliContext } from '../context';
import { pinnedRows } from './replay-plan';

export async function openWatcherState(context: CliContext): Promise<WatcherState> {
  try {
    return await WatcherState.open(await context.nats(), { create: false });
  } catch (error) {
    if (error instanceof ConfigStoreMissingError) throw new CliError(`${error.message} (start one: it creates the bucket)`, ExitCode.unavailable);
    throw new CliError(`cannot read JetStream: ${(error as Error).message}`, ExitCode.unavailable);
  }
}

/** The values roll-backs pinned, as rows (a watcher state that cannot be read is said, not fatal). */
export async function pinnedValues(context: CliContext): Promise<ReturnType<typeof pinnedRows>> {
  try {
    const pins = await (await openWatcherState(context)).pins();
    return [...pins].flatMap(([key, pin]) => pinnedRows(key, pin));
  } catch (error) {
    process.stderr.write(`warning: roll-back pins cannot be read: ${(error as Error).message}\n`);
    return [];
  }
}
