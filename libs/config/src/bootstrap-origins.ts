/**
 * Where each bootstrap value of a node comes from (`postern config show`): its environment
 * variable, its key in the config file (`POSTERN_CONFIG_FILE`), or the default, in that order of
 * precedence, as {@link loadBootstrap} reads them.
 */
import { readFileSync } from 'node:fs';
import type { BootstrapConfig } from './bootstrap';

type Env = Readonly<Record<string, string | undefined>>;

/** Each bootstrap value: its environment variable(s) and its config-file key(s). */
export const BOOTSTRAP_KEYS: Readonly<Record<Exclude<keyof BootstrapConfig, 'attributes'>, { env: readonly string[]; file: readonly string[] }>> = {
  natsUrls: { env: ['POSTERN_NATS_URLS'], file: ['natsUrls'] },
  memcachedServers: { env: ['POSTERN_MEMCACHED_SERVERS'], file: ['memcachedServers'] },
  ldapUrls: { env: ['POSTERN_LDAP_URLS'], file: ['ldapUrls'] },
  ldapBindDn: { env: ['POSTERN_LDAP_BIND_DN'], file: ['ldapBindDn'] },
  ldapBindPassword: { env: ['POSTERN_LDAP_BIND_PASSWORD', 'POSTERN_LDAP_BIND_PASSWORD_FILE'], file: ['ldapBindPassword', 'ldapBindPasswordFile'] },
  ldapBaseDn: { env: ['POSTERN_LDAP_BASE_DN'], file: ['ldapBaseDn'] },
  ldapConnectTimeoutMs: { env: ['POSTERN_LDAP_CONNECT_TIMEOUT_MS'], file: ['ldapConnectTimeoutMs'] },
  directoryLdif: { env: ['POSTERN_DIRECTORY_LDIF'], file: ['directoryLdif'] },
  serverName: { env: ['POSTERN_SERVER_NAME'], file: ['serverName'] },
  httpHost: { env: ['POSTERN_HTTP_HOST'], file: ['httpHost'] },
  httpPort: { env: ['POSTERN_HTTP_PORT'], file: ['httpPort'] },
  logLevel: { env: ['POSTERN_LOG_LEVEL'], file: ['logLevel'] },
  bindHost: { env: ['POSTERN_BIND_HOST'], file: ['bindHost'] },
  tlsCertFile: { env: ['POSTERN_TLS_CERT_FILE'], file: ['tlsCertFile'] },
  tlsKeyFile: { env: ['POSTERN_TLS_KEY_FILE'], file: ['tlsKeyFile'] },
  upstreamTlsVerify: { env: ['POSTERN_UPSTREAM_TLS_VERIFY'], file: ['upstreamTlsVerify'] },
  upstreamCaFile: { env: ['POSTERN_UPSTREAM_CA_FILE'], file: ['upstreamCaFile'] },
  throttleEnabled: { env: ['POSTERN_THROTTLE_ENABLED'], file: ['throttleEnabled'] },
  workers: { env: ['POSTERN_WORKERS'], file: ['workers'] },
  masterAuthPassword: { env: ['POSTERN_MASTER_AUTH_PASSWORD', 'POSTERN_MASTER_AUTH_PASSWORD_FILE'], file: ['masterAuthPassword', 'masterAuthPasswordFile'] },
};

export interface BootstrapOrigin {
  readonly name: keyof typeof BOOTSTRAP_KEYS;
  /** `environment POSTERN_X`, `file PATH`, or `default`. */
  readonly source: string;
}

/** Where each bootstrap value comes from for `env` (the file is read again; a file that cannot be read counts as absent). */
export function bootstrapOrigins(env: Env = process.env): BootstrapOrigin[] {
  const path = env.POSTERN_CONFIG_FILE;
  let file: Record<string, unknown> = {};
  if (path) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) file = parsed as Record<string, unknown>;
    } catch {
      // loadBootstrap has already refused such a file.
    }
  }
  return (Object.entries(BOOTSTRAP_KEYS) as [keyof typeof BOOTSTRAP_KEYS, { env: readonly string[]; file: readonly string[] }][]).map(([name, keys]) => {
    const variable = keys.env.find((v) => env[v] !== undefined && env[v] !== '');
    if (variable) return { name, source: `environment ${variable}` };
    const key = keys.file.find((k) => k in file);
    return { name, source: key && path ? `file ${path}` : 'default' };
  });
}
