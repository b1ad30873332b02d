import { ErrorCode } from '@postern/contracts';
import { resolveSettings } from '@postern/config';
import { MemcachedClient } from '@postern/memcached';
import { createLogger, Deadline, ServiceSettings } from '@postern/service-kit';
import { describe, expect, it, onTestFinished } from 'vitest';
import { LocalThrottle } from './local-throttle';

/** A memcached pool whose only server refuses connections (port 1 on loopback). */
function unreachableMemcached(): MemcachedClient {
  const client = new MemcachedClient({ servers: ['127.0.0.1:1'], timeoutMs: 500 });
  onTestFinished(() => client.close());
  return client;
}

function throttleWith(attributes: Record<string, unknown>) {
  const settings = resolveSettings({ overrides: { zimbraReverseProxyUserLoginLimit: 5, posternThrottleChecks: 'local', ...attributes } });
  const fallbacks: { kind: string; code: ErrorCode; verdict: string }[] = [];
  const throttle = new LocalThrottle(
    unreachableMemcached(),
    new ServiceSettings(settings, async () => settings, createLogger('test', 'silent')),
    createLogger('test', 'silent'),
    ({ kind, code, verdict }) => fallbacks.push({ kind, code, verdict }),
  );
  return { throttle, fallbacks };
}

const preLogin = { kind: 'pre-login', protocol: 'imap', clientIp: '192.0.2.1', user: 'alice@example.com', requestId: 'r1' } as const;

describe('LocalThrottle', () => {
  it('with memcached down, fails open by default and reports the fallback', async () => {
    const { throttle, fallbacks } = throttleWith({});
    expect(await throttle.check(preLogin, new Deadline(5000))).toEqual({ verdict: 'allow' });
    expect(fallbacks).toEqual([{ kind: 'pre-login', code: ErrorCode.Unavailable, verdict: 'allow' }]);
  });

  it('with memcached down and fail-closed, denies with the IP message', async () => {
    const { throttle, fallbacks } = throttleWith({ posternThrottleFailClosed: true, zimbraReverseProxyIpThrottleMsg: 'not now' });
    expect(await throttle.check(preLogin, new Deadline(5000))).toEqual({ verdict: 'deny', reason: 'ip', message: 'not now' });
    expect(fallbacks).toEqual([{ kind: 'pre-login', code: ErrorCode.Unavailable, verdict: 'deny' }]);
  });
});
