/**
 * The IMAP stand-in as a process (see imap-standin.ts):
 *   node --import tsx imap-standin.main.ts --host 127.0.0.4 --message-bytes 10485760
 */
import { parseArgs } from 'node:util';
import { generateMessage } from '../../harness/dovecot';
import { createImapStandin, STANDIN_MESSAGE_USER } from './imap-standin';
import { announceReady } from './ts-child';

const { values } = parseArgs({ options: { host: { type: 'string', default: '127.0.0.1' }, 'message-bytes': { type: 'string', default: '2048' } } });

async function main(): Promise<void> {
  // The same bytes the bench generates to check what it fetched.
  const message = generateMessage({ user: STANDIN_MESSAGE_USER, index: 0, sizeBytes: Number(values['message-bytes']) });
  const standin = await createImapStandin({ host: values.host, message });
  announceReady(standin.port);
}

main().catch((error: unknown) => {
  process.stderr.write(`imap-standin: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
