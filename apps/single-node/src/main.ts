/**
 * single-node: every Postern service in one process (or one cluster: a primary without Nest and a
 * worker per core, see hostMain), for a site that runs on one machine. Each service speaks the
 * same NATS contracts as when it runs alone, so nothing else changes; a small site pays for one
 * Node process instead of one per service.
 *
 * `POSTERN_SERVICES` (comma-separated; default every one) names the services it hosts; each is
 * found by its package (`@postern/<name>/service`) when the process starts, so this host depends
 * on no service's code and the services on nothing of it. Everything else is configured as for the
 * services themselves: POSTERN_* environment variables and the config file's `attributes`.
 */
import { ConfigError } from '@postern/config';
import { hostMain, type ServiceMainOptions } from '@postern/service-kit/main';

/** Every service, in start order: the watcher first (the others read the config it publishes), the frontends last. */
const SERVICES = ['config-watcher', 'route-lookup', 'login-throttle', 'mail-proxy', 'web-proxy'] as const;

function chosen(env: Readonly<Record<string, string | undefined>>): readonly string[] {
  const text = env.POSTERN_SERVICES?.trim();
  if (!text) return SERVICES;
  const names = text.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(SERVICES as readonly string[]).includes(name));
  if (unknown.length > 0) throw new ConfigError([new Error(`POSTERN_SERVICES: unknown service ${unknown.join(', ')}; accepted: ${SERVICES.join(', ')}`)]);
  return SERVICES.filter((name) => names.includes(name));
}

async function load(name: string): Promise<ServiceMainOptions> {
  const loaded = (await import(`@postern/${name}/service`)) as { service?: ServiceMainOptions };
  if (loaded.service?.name !== name) throw new Error(`@postern/${name}/service does not describe the ${name} service`);
  return loaded.service;
}

async function main(): Promise<void> {
  let names: readonly string[];
  try {
    names = chosen(process.env);
  } catch (error) {
    process.stderr.write(`single-node: ${(error as Error).message}\n`);
    process.exit(78); // EX_CONFIG (sysexits.h)
  }
  await hostMain({ name: 'single-node', services: await Promise.all(names.map(load)) });
}

void main();
