import { resolveSettings } from '@postern/config';
import type { Server } from '@postern/directory';
import { describe, expect, it } from 'vitest';
import { poolsOf } from './web-pools';

function server(name: string, host: string, attributes: Record<string, string>): Server {
  return { dn: `cn=${name},cn=servers`, name, serviceHostname: host, attributes: Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, [v]])) };
}

const servers = [
  server('mbox1', '10.0.0.1', { zimbraMailMode: 'both', zimbraReverseProxyLookupTarget: 'TRUE', zimbraMailPort: '8081', zimbraMailSSLPort: '8444' }),
  server('mbox2', '10.0.0.2', { zimbraMailMode: 'both', zimbraReverseProxyLookupTarget: 'TRUE' }),
  // Not a target: never in the main pool, whatever its mode.
  server('mbox3', '10.0.0.3', { zimbraMailMode: 'https', zimbraReverseProxyLookupTarget: 'FALSE' }),
  // A target without a mail mode holds no mailboxes.
  server('proxy1', '10.0.0.9', { zimbraReverseProxyLookupTarget: 'TRUE' }),
  server('login1', 'login1.example.com', { zimbraMailMode: 'both' }),
];

describe('poolsOf', () => {
  it('takes the lookup targets with a mail mode, at the port of the upstream scheme', () => {
    const plain = resolveSettings({ overrides: { zimbraReverseProxySSLToUpstreamEnabled: false, zimbraReverseProxyMailMode: 'both' } });
    expect(poolsOf(servers, plain)).toEqual({ main: ['10.0.0.1:8081', '10.0.0.2:8080'], login: [], refused: [] });
    const ssl = resolveSettings({ overrides: { zimbraReverseProxySSLToUpstreamEnabled: true, zimbraReverseProxyMailMode: 'both' } });
    expect(poolsOf(servers, ssl).main).toEqual(['10.0.0.1:8444', '10.0.0.2:8443']);
  });

  it('builds the login pool from the named servers, by service host name or cn', () => {
    const s = resolveSettings({
      overrides: { zimbraReverseProxySSLToUpstreamEnabled: false, zimbraReverseProxyUpstreamLoginServers: ['LOGIN1.example.com', 'mbox2'] },
    });
    expect(poolsOf(servers, s).login).toEqual(['10.0.0.2:8080', 'login1.example.com:8080']);
  });

  it('posternWebUpstreamPool replaces the main pool', () => {
    const s = resolveSettings({ overrides: { zimbraReverseProxySSLToUpstreamEnabled: false, posternWebUpstreamPool: ['web.internal:8080'] } });
    expect(poolsOf(servers, s).main).toEqual(['web.internal:8080']);
  });

  it('leaves out a server whose mail mode does not work behind the proxy, naming the three values', () => {
    const s = resolveSettings({ overrides: { zimbraReverseProxySSLToUpstreamEnabled: true, zimbraReverseProxyMailMode: 'https' } });
    const withHttp = [...servers, server('old', '10.0.0.4', { zimbraMailMode: 'http', zimbraReverseProxyLookupTarget: 'TRUE' })];
    const pools = poolsOf(withHttp, s);
    expect(pools.main).toEqual(['10.0.0.1:8444', '10.0.0.2:8443']);
    expect(pools.refused.map((refused) => refused.server)).toEqual(['old']);
    expect(pools.refused[0]?.problem).toMatch(
      /zimbraReverseProxySSLToUpstreamEnabled=TRUE, zimbraReverseProxyMailMode=https, zimbraMailMode=http is not a supported combination; zimbraMailMode accepted .*both, https/,
    );
  });
});
