/**
 * `postern sessions list|kick`: the live mail sessions of every mail-proxy worker on every node,
 * asked over NATS and the answers gathered (as Dovecot's `doveadm who` and `kick`).
 */
import type { Command } from 'commander';
import { decodePayload, encodePayload, SessionsAnswerSchema, SessionsQuerySchema, SessionSubjects, type SessionsAnswer } from '@postern/contracts';
import { CliError, ExitCode, fromDirectory, type CliContext } from '../context';
import { printJson, printTable } from '../output';

/** How long answers are gathered: every worker answers at once; a node that is not there within it is not counted. */
const GATHER_MS = 1_000;

async function ask(context: CliContext, subject: string, user: string | undefined): Promise<SessionsAnswer[]> {
  const nc = await context.nats();
  const answers: SessionsAnswer[] = [];
  try {
    const replies = await nc.requestMany(subject, encodePayload(SessionsQuerySchema, user === undefined ? {} : { user }), { maxWait: GATHER_MS });
    for await (const reply of replies) {
      const decoded = decodePayload(SessionsAnswerSchema, reply.data);
      if (decoded.ok) answers.push(decoded.value);
      else process.stderr.write(`warning: a malformed answer was ignored: ${decoded.message}\n`);
    }
  } catch (error) {
    throw new CliError(`no answer from the mail proxies on ${context.bootstrap.natsUrls.join(', ')}: ${(error as Error).message}`, ExitCode.unavailable);
  }
  return answers;
}

/**
 * The account a name stands for, when the directory knows it: a session is listed under the login
 * its client typed and its account, so an alias the client did not type would find nothing.
 * Without a directory (or for a name it does not know) the name is asked for as it is.
 */
async function accountOf(context: CliContext, user: string): Promise<string> {
  if (context.bootstrap.ldapUrls.length === 0 && !context.bootstrap.directoryLdif) return user;
  const directory = context.directory();
  const account = await fromDirectory(context, () => directory.findAccount(user));
  return account?.name || user;
}

function print(answers: SessionsAnswer[], json: boolean | undefined, verb: string): void {
  const sessions = answers.flatMap((a) => a.sessions);
  const hidden = answers.reduce((n, a) => n + a.total - a.sessions.length, 0);
  if (json) return printJson({ workers: answers.length, total: sessions.length + hidden, sessions });
  printTable(
    ['USER', 'ACCOUNT', 'PROTOCOL', 'CLIENT', 'UPSTREAM', 'NODE', 'PID', 'SINCE'],
    sessions.map((s) => [s.user, s.accountName, s.protocol, s.clientIp, s.upstream, s.node, String(s.pid), s.since]),
  );
  process.stdout.write(
    `${sessions.length + hidden} session${sessions.length + hidden === 1 ? '' : 's'} ${verb} on ${answers.length} mail-proxy worker${answers.length === 1 ? '' : 's'}${hidden > 0 ? ` (${hidden} not shown)` : ''}\n`,
  );
}

export function sessionsCommands(program: Command, context: () => CliContext): void {
  const sessions = program.command('sessions');
  sessions
    .command('list')
    .description('every session, or those of --user, as doveadm who')
    .option('--user <user>', 'a login, alias or account name (an alias is read as its account when a directory is configured)')
    .option('--json', 'print JSON')
    .action(async (options: { user?: string; json?: boolean }) => {
      const ctx = context();
      const user = options.user === undefined ? undefined : await accountOf(ctx, options.user);
      print(await ask(ctx, SessionSubjects.list, user), options.json, 'open');
    });
  sessions
    .command('kick')
    .description('end every session of a user (`* BYE` / `-ERR`), as doveadm kick; exit 1 when it had none')
    .argument('<user>', 'a login, alias or account name (an alias is read as its account when a directory is configured)')
    .option('--json', 'print JSON')
    .action(async (user: string, options: { json?: boolean }) => {
      const ctx = context();
      const answers = await ask(ctx, SessionSubjects.kick, await accountOf(ctx, user));
      print(answers, options.json, 'ended');
      if (answers.every((a) => a.total === 0)) process.exitCode = ExitCode.failed;
    });
}
