/**
 * nginx's mail `auth_http` answered the way a deployment answers it: a small HTTP service that maps
 * the login to its mailbox server. Runs as its own process (nginx opens one HTTP/1.0 connection per
 * login), so that its work is not done on the load generator's event loop.
 *
 *   node --import tsx nginx-auth.main.ts --routes '{"alice@example.com":"127.0.0.2:34567", …}'
 *
 * It does not check the password (the mailbox server does, as behind Postern); an unknown login
 * gets nginx's refusal headers. Protocol: https://nginx.org/en/docs/mail/ngx_mail_auth_http_module.html
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { announceReady } from './ts-child';

const { values } = parseArgs({ options: { routes: { type: 'string', default: '{}' } } });

/** Login (lower case) → mailbox server address and port. */
const routes = new Map<string, { host: string; port: string }>(
  Object.entries(JSON.parse(values.routes) as Record<string, string>).map(([user, address]) => {
    const at = address.lastIndexOf(':');
    return [user.toLowerCase(), { host: address.slice(0, at), port: address.slice(at + 1) }];
  }),
);

/** nginx escapes Auth-User (spaces, `%`, control characters). */
function header(value: string | string[] | undefined): string {
  const raw = Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

const server = createServer((request, response) => {
  const route = routes.get(header(request.headers['auth-user']).toLowerCase());
  if (route === undefined) {
    response.writeHead(200, { 'Auth-Status': 'Invalid login or password', 'Auth-Wait': '1' });
  } else {
    // Auth-Server must be an IP address: nginx does not resolve names here.
    response.writeHead(200, { 'Auth-Status': 'OK', 'Auth-Server': route.host, 'Auth-Port': route.port });
  }
  response.end();
});
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('nginx-auth: no address');
  announceReady(address.port);
});
