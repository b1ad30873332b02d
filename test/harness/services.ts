/**
 * Starts Postern's own services as real processes from their build output (`npm run build`),
 * exactly as an operator runs them: configuration through POSTERN_* variables.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startProcess, waitFor, type ManagedProcess } from './process';

const root = join(__dirname, '..', '..');

export interface ServiceProcess {
  readonly name: string;
  readonly process: ManagedProcess;
  /** Port of /metrics and /health. */
  readonly httpPort: number;
  /** Fetches /metrics and returns the value of one series (summed over matching label sets). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** SIGTERM and wait: the service drains before it exits. */
  stop(): Promise<void>;
  /** Starts the service again, as it was started (same environment, same HTTP port), once this one has exited. */
  restart(): Promise<ServiceProcess>;
}

/**
 * Per-call budgets for the mail proxy's NATS requests in tests that are not about faults: long
 * enough that a loaded machine cannot run them out (the defaults, 1 s and 3 s, are for production;
 * a check that ran out would take the fail mode and change what a test counts). The fault drills
 * set their own.
 */
export const PATIENT_BUDGETS = { posternThrottleCheckTimeout: '10s', posternRouteLookupRequestTimeout: '60s' } as const;

/**
 * Starts `apps/<app>/dist/main.js` and waits until /health answers 200. A frontend runs one worker
 * process unless `env` sets POSTERN_WORKERS (the cluster has its own test).
 */
export async function startService(
  app: string,
  env: Record<string, string>,
  options: { httpPort?: number; /** Node's own flags (`--cpu-prof` …), which NODE_OPTIONS may not carry. */ nodeArgs?: readonly string[] } = {},
): Promise<ServiceProcess> {
  const main = join(root, 'apps', app, 'dist', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run "npm run build" first`);
  const httpPort = options.httpPort ?? (await freePort());
  const proc = startProcess(app, process.execPath, [...(options.nodeArgs ?? []), main], {
    env: { ...process.env, POSTERN_HTTP_HOST: '127.0.0.1', POSTERN_HTTP_PORT: String(httpPort), POSTERN_LOG_LEVEL: 'info', POSTERN_WORKERS: '1', ...env },
  });
  const base = `http://127.0.0.1:${httpPort}`;
  await waitFor(
    `${app} /health`,
    async () => {
      if (proc.exited) throw new Error(`${app} exited: ${proc.output()}`);
      const response = await fetch(`${base}/health`).catch(() => undefined);
      return response?.status === 200;
    },
    { timeoutMs: 30_000 },
  );
  return {
    name: app,
    process: proc,
    httpPort,
    async metric(name, labels = {}) {
      const text = await (await fetch(`${base}/metrics`)).text();
      return sumSeries(text, name, labels);
    },
    stop: () => proc.stop(15_000),
    async restart() {
      await proc.stop(15_000);
      return startService(app, env, { ...options, httpPort });
    },
  };
}

/** Every login limit on, set too high to deny: each login is checked (and counted) by the throttle. */
export const LIMITS_ON_NEVER_DENY = {
  zimbraReverseProxyIPLoginImapLimit: 1_000_000_000,
  zimbraReverseProxyUserLoginLimit: 1_000_000_000,
  posternFailedLoginUserLimit: 1_000_000_000,
  posternFailedLoginIpLimit: 1_000_000_000,
} as const;

/** A mail-proxy process and the ports it listens on (loopback). */
export interface MailProxyProcess {
  readonly service: ServiceProcess;
  readonly imap: number;
  readonly imaps: number;
  readonly pop3: number;
  readonly pop3s: number;
}

/**
 * Starts a mail-proxy on four free loopback ports with `attributes` (Zimbra settings) in a config
 * file `<dir>/<name>.json`; `env` names NATS, memcached, certificates.
 */
export async function startMailProxy(dir: string, name: string, env: Record<string, string>, attributes: Record<string, unknown>): Promise<MailProxyProcess> {
  const [imap, imaps, pop3, pop3s] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const file = join(dir, `${name}.json`);
  const ports = { zimbraImapProxyBindPort: imap, zimbraImapSSLProxyBindPort: imaps, zimbraPop3ProxyBindPort: pop3, zimbraPop3SSLProxyBindPort: pop3s };
  writeFileSync(file, JSON.stringify({ attributes: { ...attributes, ...ports } }));
  const service = await startService('mail-proxy', { ...env, POSTERN_CONFIG_FILE: file, POSTERN_BIND_HOST: '127.0.0.1' });
  return { service, imap, imaps, pop3, pop3s };
}

/** Sums the samples of `name` whose labels include `labels`, in Prometheus text format. */
export function sumSeries(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = new Map([...(match[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(match[4]);
  }
  return sum;
}
