/**
 * Asks the running stack's route-lookup service for a route, over NATS, as a frontend would.
 * Usage: npm run lookup -- USER [PROTOCOL] [--proxy-ip IP] [--client-ip IP] [--vhost HOST] [--by-id]
 */
import { connect } from '@nats-io/transport-node';
import { RouteLookupContract, type RouteLookupRequest } from '@postern/contracts';
import { requestReply } from '@postern/service-kit';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'proxy-ip': { type: 'string' },
      'client-ip': { type: 'string', default: '127.0.0.1' },
      vhost: { type: 'string' },
      'by-id': { type: 'boolean', default: false },
      nats: { type: 'string' },
    },
  });
  const [user, protocol = 'imap'] = positionals;
  if (!user)
    throw new Error('usage: npm run lookup -- USER [imap|imapssl|pop3|pop3ssl|http|httpssl] [--proxy-ip IP] [--client-ip IP] [--vhost HOST] [--by-id]');
  const natsUrl = values.nats ?? (JSON.parse(readFileSync(join(__dirname, '..', '.postern', 'stack.json'), 'utf8')) as { nats: string }).nats;
  const nc = await connect({ servers: natsUrl });
  try {
    const request = {
      by: values['by-id'] ? 'id' : 'name',
      user,
      protocol,
      clientIp: values['client-ip'],
      ...(values['proxy-ip'] ? { proxyIp: values['proxy-ip'] } : {}),
      ...(values.vhost ? { virtualHost: values.vhost } : {}),
    } as RouteLookupRequest;
    const result = await requestReply(nc, RouteLookupContract, request, 5000);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await nc.close();
  }
}

main().catch((error: unknown) => {
  const e = error as Error & { code?: string };
  process.stderr.write(`lookup: ${e.code ? `${e.code}: ` : ''}${e.message}\n`);
  process.exit(1);
});
