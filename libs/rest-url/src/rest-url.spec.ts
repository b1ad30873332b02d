import { describe, expect, it } from 'vitest';
import { restBaseUrl, restUrl, RestUrlError, sendsRefer } from './rest-url';

const home = { serviceHostname: 'mbox1.example.com', mailMode: 'both', mailPort: 8080, mailSslPort: 8443 };

describe('REST URLs', () => {
  it('use the public service name when the domain has one, with the port only when it is not the default', () => {
    expect(restUrl({ account: 'alice@example.com', publicService: { hostname: 'mail.example.com', protocol: 'https' }, homeServer: home }, '/Inbox')).toBe(
      'https://mail.example.com/home/alice@example.com/Inbox',
    );
    expect(restBaseUrl({ publicService: { hostname: 'mail.example.com' } })).toBe('http://mail.example.com');
    expect(restBaseUrl({ publicService: { hostname: 'mail.example.com', protocol: 'https', port: 443 } })).toBe('https://mail.example.com');
    expect(restBaseUrl({ publicService: { hostname: 'mail.example.com', protocol: 'https', port: 8443 } })).toBe('https://mail.example.com:8443');
  });

  it('fall back to the home server: protocol from its mail mode, the port always written', () => {
    expect(restBaseUrl({ publicService: {}, homeServer: home })).toBe('https://mbox1.example.com:8443');
    expect(restBaseUrl({ publicService: {}, homeServer: home, preferSsl: false })).toBe('http://mbox1.example.com:8080');
    expect(restBaseUrl({ publicService: {}, homeServer: { ...home, mailMode: 'http' } })).toBe('http://mbox1.example.com:8080');
    expect(restBaseUrl({ publicService: {}, homeServer: { ...home, mailMode: 'https' }, preferSsl: false })).toBe('https://mbox1.example.com:8443');
    expect(restBaseUrl({ publicService: {}, homeServer: { serviceHostname: 'm', mailMode: 'http' } })).toBe('http://m:80');
    expect(restBaseUrl({ publicService: {}, homeServer: { serviceHostname: 'm', mailMode: 'redirect' } })).toBe('https://m:443');
  });

  it('refuse a server without zimbraMailMode, saying what is missing, or no server', () => {
    expect(() => restBaseUrl({ publicService: {}, homeServer: { serviceHostname: 'proxy1' } })).toThrow(RestUrlError);
    expect(() => restBaseUrl({ publicService: {}, homeServer: { serviceHostname: 'proxy1' } })).toThrow(/proxy1 has no zimbraMailMode .*set zimbraMailMode/);
    expect(() => restBaseUrl({ publicService: {}, homeServer: { serviceHostname: 'proxy1' } })).not.toThrow(/mailboxes/);
    expect(() => restBaseUrl({ publicService: {} })).toThrow(/no home server/);
  });

  it('escape what a path segment cannot hold', () => {
    expect(restUrl({ account: 'o brien@example.com', publicService: { hostname: 'h' } })).toBe('http://h/home/o%20brien@example.com');
  });
});

describe('zimbraMailReferMode', () => {
  it('always, only to another server, or never behind the proxy', () => {
    expect(sendsRefer('always', 'a', 'a')).toBe(true);
    expect(sendsRefer('wronghost', 'a', 'A')).toBe(false);
    expect(sendsRefer('wronghost', 'a', 'b')).toBe(true);
    expect(sendsRefer('reverse-proxied', 'a', 'b')).toBe(false);
  });
});
