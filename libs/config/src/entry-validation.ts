/**
 * Whether a directory entry may be published (the config-watcher, `postern config check`): every setting it holds must have its type and range
 * (as each service would resolve it: global config < server entry), the mail modes must satisfy
 * the seed's table for every lookup target, and a domain's certificate must parse and match its
 * key. The answer is the list of problems, each naming the attribute; empty means valid.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { ConfigError, mailModeProblem, resolveSettings, type AttributeValues } from './resolve';
import type { EffectiveSettings } from './settings';

type Attributes = AttributeValues;
/** What a directory entry is (as the config events name it). */
type ConfigScope = 'global' | 'server' | 'domain' | 'account';

/** The first value of an attribute (names compared case-insensitively, as LDAP does). */
function attr(attributes: Attributes, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [key, values] of Object.entries(attributes)) if (key.toLowerCase() === lower) return values[0];
  return undefined;
}

/** The entries a change is checked against. */
export interface ValidationContext {
  readonly global: AttributeValues;
  /** Every server entry by name (the changed one excluded or replaced by the caller). */
  readonly servers: ReadonlyMap<string, AttributeValues>;
}

function problemsOf(error: unknown): string[] {
  if (error instanceof ConfigError) return error.problems.map((p) => p.message);
  return [(error as Error).message];
}

/** Resolves the settings of `global` with `server` over it; the problems, or the settings. */
function resolve(global: AttributeValues, server: AttributeValues | undefined): { settings?: EffectiveSettings; problems: string[] } {
  try {
    return { settings: resolveSettings({ global, server }), problems: [] };
  } catch (error) {
    return { problems: problemsOf(error) };
  }
}

/** The seed's table for one server under the proxy settings in effect for the cluster. */
function mailModeProblems(settings: EffectiveSettings, name: string, server: AttributeValues): string[] {
  const mode = attr(server, 'zimbraMailMode');
  if (mode === undefined || attr(server, 'zimbraReverseProxyLookupTarget')?.toUpperCase() !== 'TRUE') return [];
  const problem = mailModeProblem(settings.zimbraReverseProxySSLToUpstreamEnabled, settings.zimbraReverseProxyMailMode, mode);
  return problem ? [`server ${name}: ${problem}`] : [];
}

/** Problems of `attributes` as the new value of a `scope` entry; [] when it may be published. */
export function validateEntry(scope: ConfigScope, name: string, attributes: Attributes, context: ValidationContext): string[] {
  switch (scope) {
    case 'global': {
      const own = resolve(attributes, undefined);
      if (!own.settings) return own.problems;
      const problems: string[] = [];
      for (const [serverName, server] of context.servers) {
        const withServer = resolve(attributes, server);
        problems.push(...withServer.problems.map((p) => `with server ${serverName}: ${p}`));
        problems.push(...mailModeProblems(own.settings, serverName, server));
      }
      return problems;
    }
    case 'server': {
      const withServer = resolve(context.global, attributes);
      if (!withServer.settings) return withServer.problems;
      const cluster = resolve(context.global, undefined);
      return cluster.settings ? mailModeProblems(cluster.settings, name, attributes) : [];
    }
    case 'domain':
      return certificateProblems(attributes);
    case 'account':
      return [];
  }
}

/** A domain's `zimbraSSLCertificate` and `zimbraSSLPrivateKey`: both or neither, parseable, a pair. */
export function certificateProblems(attributes: Attributes): string[] {
  const cert = attr(attributes, 'zimbraSSLCertificate');
  const key = attr(attributes, 'zimbraSSLPrivateKey');
  if (cert === undefined && key === undefined) return [];
  if (cert === undefined || key === undefined) return ['zimbraSSLCertificate and zimbraSSLPrivateKey: set both or neither'];
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    return [`zimbraSSLCertificate: not a PEM certificate (${(error as Error).message})`];
  }
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(key))) return ['zimbraSSLPrivateKey: does not match zimbraSSLCertificate'];
  } catch (error) {
    return [`zimbraSSLPrivateKey: not a PEM private key (${(error as Error).message})`];
  }
  return [];
}
