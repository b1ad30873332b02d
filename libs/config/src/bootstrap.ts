/**
 * Bootstrap values: what a service needs before it can read the directory (where NATS, memcached
 * and the directory are, and its own name). From the environment, over a JSON config file.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { ConfigError } from './resolve';

export interface BootstrapConfig {
  /** NATS server URLs (`POSTERN_NATS_URLS`, comma-separated). */
  readonly natsUrls: readonly string[];
  /** memcached servers as `host:port` (`POSTERN_MEMCACHED_SERVERS`). Every node must list them in the same set. */
  readonly memcachedServers: readonly string[];
  /** LDAP URLs, tried in order (`POSTERN_LDAP_URLS`). Empty: use the LDIF directory. */
  readonly ldapUrls: readonly string[];
  readonly ldapBindDn: string | undefined;
  /** From `POSTERN_LDAP_BIND_PASSWORD` or the file named by `POSTERN_LDAP_BIND_PASSWORD_FILE`. Never logged. */
  readonly ldapBindPassword: string | undefined;
  /** Base DN of every search (`POSTERN_LDAP_BASE_DN`). */
  readonly ldapBaseDn: string;
  /** Connect timeout per LDAP server, ms (`POSTERN_LDAP_CONNECT_TIMEOUT_MS`). */
  readonly ldapConnectTimeoutMs: number;
  /** An LDIF file serving as the directory when no LDAP URL is set (`POSTERN_DIRECTORY_LDIF`). */
  readonly directoryLdif: string | undefined;
  /** This node's `zimbraServiceHostname`: its server entry overrides global config (`POSTERN_SERVER_NAME`). */
  readonly serverName: string | undefined;
  /** Address and port of the /metrics and /health endpoint (`POSTERN_HTTP_HOST`, `POSTERN_HTTP_PORT`; port 0 = any free port). */
  readonly httpHost: string;
  readonly httpPort: number;
  /** pino level (`POSTERN_LOG_LEVEL`). */
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Directory attribute overrides from the config file (`attributes` object). */
  readonly attributes: Readonly<Record<string, unknown>>;
  /** Address the mail listeners bind to (`POSTERN_BIND_HOST`). */
  readonly bindHost: string;
  /** Default certificate and key (PEM files) for IMAPS, POP3S and STARTTLS (`POSTERN_TLS_CERT_FILE`, `POSTERN_TLS_KEY_FILE`). */
  readonly tlsCertFile: string | undefined;
  readonly tlsKeyFile: string | undefined;
  /** Verify mailbox servers' certificates when talking TLS to them (`POSTERN_UPSTREAM_TLS_VERIFY`, default true). */
  readonly upstreamTlsVerify: boolean;
  /** CA certificates (PEM file) trusted for upstream TLS instead of the system's (`POSTERN_UPSTREAM_CA_FILE`). */
  readonly upstreamCaFile: string | undefined;
  /**
   * Frontends apply the login throttle (`POSTERN_THROTTLE_ENABLED`, default true), deciding its
   * checks themselves or asking the service as `posternThrottleChecks` says. False allows every
   * login without a check: for a node that must not throttle, and to measure the throttle's cost.
   */
  readonly throttleEnabled: boolean;
  /**
   * Worker processes of a service that runs one per core (the mail proxy), sharing its listeners
   * (`POSTERN_WORKERS`: a number, or `auto` for one per core, as nginx's `worker_processes auto`).
   * 1 runs the service in a single process, without a primary.
   */
  readonly workers: number;
  /**
   * The secret of the mailbox servers' master user (`posternMasterAuthUser`), with which the mail
   * proxy logs in for a Kerberos-authenticated account (`POSTERN_MASTER_AUTH_PASSWORD`, or the file
   * named by `POSTERN_MASTER_AUTH_PASSWORD_FILE`). Never logged. Unset: GSSAPI logins fail with NO.
   */
  readonly masterAuthPassword: string | undefined;
}

/** The defaults: a single node with everything on loopback at the servers' standard ports. */
export const DEFAULT_BOOTSTRAP: BootstrapConfig = {
  natsUrls: ['nats://127.0.0.1:4222'],
  memcachedServers: ['127.0.0.1:11211'],
  ldapUrls: [],
  ldapBindDn: undefined,
  ldapBindPassword: undefined,
  masterAuthPassword: undefined,
  ldapBaseDn: 'dc=postern,dc=test',
  ldapConnectTimeoutMs: 3000,
  directoryLdif: undefined,
  serverName: undefined,
  httpHost: '127.0.0.1',
  httpPort: 0,
  logLevel: 'info',
  attributes: {},
  bindHost: '0.0.0.0',
  tlsCertFile: undefined,
  tlsKeyFile: undefined,
  upstreamTlsVerify: true,
  upstreamCaFile: undefined,
  throttleEnabled: true,
  workers: availableParallelism(),
};

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

type Env = Readonly<Record<string, string | undefined>>;

function list(value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Loads the bootstrap config: defaults < file (`POSTERN_CONFIG_FILE`, JSON) < environment.
 * Throws {@link ConfigError} naming each bad value.
 */
export function loadBootstrap(env: Env = process.env): BootstrapConfig {
  const problems: Error[] = [];
  let file: Record<string, unknown> = {};
  const path = env.POSTERN_CONFIG_FILE;
  if (path) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
      file = parsed as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError([new Error(`POSTERN_CONFIG_FILE ${path}: ${(error as Error).message}`)]);
    }
  }
  const fromFile = <T>(key: string, check: (v: unknown) => v is T): T | undefined => {
    if (!(key in file)) return undefined;
    const v = file[key];
    if (check(v)) return v;
    problems.push(new Error(`${key} in ${path}: invalid value ${JSON.stringify(v)}`));
    return undefined;
  };
  const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
  const isString = (v: unknown): v is string => typeof v === 'string';
  const isNumber = (v: unknown): v is number => typeof v === 'number';
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

  const int = (name: string, text: string | undefined, fallback: number, min: number, max: number): number => {
    if (text === undefined || text === '') return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(new Error(`${name}: invalid value ${JSON.stringify(text)}; accepted: an integer from ${min} to ${max}`));
      return fallback;
    }
    return n;
  };

  const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
  const bool = (name: string, text: string | undefined, fallback: boolean): boolean => {
    if (text === undefined || text === '') return fallback;
    if (/^(true|false)$/i.test(text)) return text.toLowerCase() === 'true';
    problems.push(new Error(`${name}: invalid value ${JSON.stringify(text)}; accepted: true or false`));
    return fallback;
  };

  let password = env.POSTERN_LDAP_BIND_PASSWORD ?? fromFile('ldapBindPassword', isString);
  const passwordFile = env.POSTERN_LDAP_BIND_PASSWORD_FILE ?? fromFile('ldapBindPasswordFile', isString);
  if (password === undefined && passwordFile) {
    try {
      password = readFileSync(passwordFile, 'utf8').trim();
    } catch (error) {
      problems.push(new Error(`POSTERN_LDAP_BIND_PASSWORD_FILE: ${(error as Error).message}`));
    }
  }
  let masterAuthPassword = env.POSTERN_MASTER_AUTH_PASSWORD ?? fromFile('masterAuthPassword', isString);
  const masterAuthPasswordFile = env.POSTERN_MASTER_AUTH_PASSWORD_FILE ?? fromFile('masterAuthPasswordFile', isString);
  if (masterAuthPassword === undefined && masterAuthPasswordFile) {
    try {
      masterAuthPassword = readFileSync(masterAuthPasswordFile, 'utf8').trim();
    } catch (error) {
      problems.push(new Error(`POSTERN_MASTER_AUTH_PASSWORD_FILE: ${(error as Error).message}`));
    }
  }
  const logLevel = env.POSTERN_LOG_LEVEL ?? fromFile('logLevel', isString) ?? DEFAULT_BOOTSTRAP.logLevel;
  if (!(LEVELS as readonly string[]).includes(logLevel))
    problems.push(new Error(`POSTERN_LOG_LEVEL: invalid value ${JSON.stringify(logLevel)}; accepted: ${LEVELS.join(', ')}`));

  const workersText = env.POSTERN_WORKERS ?? fromFile('workers', (v): v is number | string => isNumber(v) || isString(v))?.toString();
  let workers = DEFAULT_BOOTSTRAP.workers;
  if (workersText !== undefined && workersText.trim() !== '' && workersText.trim().toLowerCase() !== 'auto') {
    workers = Number(workersText);
    if (!Number.isInteger(workers) || workers < 1 || workers > 256) {
      problems.push(new Error(`POSTERN_WORKERS: invalid value ${JSON.stringify(workersText)}; accepted: auto (one per core) or an integer from 1 to 256`));
      workers = DEFAULT_BOOTSTRAP.workers;
    }
  }

  const config: BootstrapConfig = {
    natsUrls: list(env.POSTERN_NATS_URLS) ?? fromFile('natsUrls', isStrings) ?? DEFAULT_BOOTSTRAP.natsUrls,
    memcachedServers: list(env.POSTERN_MEMCACHED_SERVERS) ?? fromFile('memcachedServers', isStrings) ?? DEFAULT_BOOTSTRAP.memcachedServers,
    ldapUrls: list(env.POSTERN_LDAP_URLS) ?? fromFile('ldapUrls', isStrings) ?? DEFAULT_BOOTSTRAP.ldapUrls,
    ldapBindDn: env.POSTERN_LDAP_BIND_DN ?? fromFile('ldapBindDn', isString),
    ldapBindPassword: password,
    ldapBaseDn: env.POSTERN_LDAP_BASE_DN ?? fromFile('ldapBaseDn', isString) ?? DEFAULT_BOOTSTRAP.ldapBaseDn,
    ldapConnectTimeoutMs: int(
      'POSTERN_LDAP_CONNECT_TIMEOUT_MS',
      env.POSTERN_LDAP_CONNECT_TIMEOUT_MS ?? fromFile('ldapConnectTimeoutMs', isNumber)?.toString(),
      DEFAULT_BOOTSTRAP.ldapConnectTimeoutMs,
      1,
      600_000,
    ),
    directoryLdif: env.POSTERN_DIRECTORY_LDIF ?? fromFile('directoryLdif', isString),
    serverName: env.POSTERN_SERVER_NAME ?? fromFile('serverName', isString),
    httpHost: env.POSTERN_HTTP_HOST ?? fromFile('httpHost', isString) ?? DEFAULT_BOOTSTRAP.httpHost,
    httpPort: int('POSTERN_HTTP_PORT', env.POSTERN_HTTP_PORT ?? fromFile('httpPort', isNumber)?.toString(), DEFAULT_BOOTSTRAP.httpPort, 0, 65535),
    logLevel: logLevel as BootstrapConfig['logLevel'],
    attributes: fromFile('attributes', isObject) ?? {},
    bindHost: env.POSTERN_BIND_HOST ?? fromFile('bindHost', isString) ?? DEFAULT_BOOTSTRAP.bindHost,
    tlsCertFile: env.POSTERN_TLS_CERT_FILE ?? fromFile('tlsCertFile', isString),
    tlsKeyFile: env.POSTERN_TLS_KEY_FILE ?? fromFile('tlsKeyFile', isString),
    upstreamTlsVerify: bool(
      'POSTERN_UPSTREAM_TLS_VERIFY',
      env.POSTERN_UPSTREAM_TLS_VERIFY ?? fromFile('upstreamTlsVerify', isBoolean)?.toString(),
      DEFAULT_BOOTSTRAP.upstreamTlsVerify,
    ),
    upstreamCaFile: env.POSTERN_UPSTREAM_CA_FILE ?? fromFile('upstreamCaFile', isString),
    throttleEnabled: bool(
      'POSTERN_THROTTLE_ENABLED',
      env.POSTERN_THROTTLE_ENABLED ?? fromFile('throttleEnabled', isBoolean)?.toString(),
      DEFAULT_BOOTSTRAP.throttleEnabled,
    ),
    workers,
    masterAuthPassword,
  };
  for (const url of config.natsUrls)
    if (!/^(nats|tls):\/\/[^\s/]+$/.test(url)) problems.push(new Error(`POSTERN_NATS_URLS: invalid URL ${JSON.stringify(url)}; accepted: nats://host:port`));
  for (const server of config.memcachedServers)
    if (!/^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9A-Fa-f:.]+\]:\d{1,5}$/.test(server))
      problems.push(new Error(`POSTERN_MEMCACHED_SERVERS: invalid server ${JSON.stringify(server)}; accepted: host:port`));
  for (const url of config.ldapUrls)
    if (!/^ldaps?:\/\/[^\s]+$/.test(url))
      problems.push(new Error(`POSTERN_LDAP_URLS: invalid URL ${JSON.stringify(url)}; accepted: ldap://host:port or ldaps://host:port`));
  if ((config.tlsCertFile === undefined) !== (config.tlsKeyFile === undefined))
    problems.push(new Error('POSTERN_TLS_CERT_FILE and POSTERN_TLS_KEY_FILE: set both or neither'));
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** For services that read the directory: throws {@link ConfigError} unless one is configured. */
export function requireDirectory(config: BootstrapConfig): void {
  if (config.ldapUrls.length === 0 && !config.directoryLdif) {
    throw new ConfigError([new Error('POSTERN_LDAP_URLS or POSTERN_DIRECTORY_LDIF: one of them must name the directory')]);
  }
}
