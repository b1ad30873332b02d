import { describe, expect, it } from 'vitest';
import { listens, mailModeAction, type MailMode } from './mail-mode';

const ports = { http: 80, https: 443 };
const token = 'ZM_AUTH_TOKEN=0_x_00';

describe('mail modes', () => {
  it('runs the listeners each mode has', () => {
    const table = (['http', 'https', 'both', 'redirect', 'mixed'] as MailMode[]).map((mode) => [mode, listens(mode, 'http'), listens(mode, 'https')]);
    expect(table).toEqual([
      ['http', true, false],
      ['https', false, true],
      ['both', true, true],
      ['redirect', true, true],
      ['mixed', true, true],
    ]);
  });

  it('redirect: every HTTP request to the same URL over HTTPS; HTTPS proxies', () => {
    expect(mailModeAction('redirect', { scheme: 'http', target: '/home/a/?x=1', host: 'mail.example.com', cookie: undefined }, ports)).toEqual({
      kind: 'redirect',
      location: 'https://mail.example.com/home/a/?x=1',
    });
    expect(mailModeAction('redirect', { scheme: 'http', target: '/', host: 'mail.example.com', cookie: undefined }, { http: 8080, https: 8443 })).toEqual({
      kind: 'redirect',
      location: 'https://mail.example.com:8443/',
    });
    expect(mailModeAction('redirect', { scheme: 'https', target: '/', host: 'mail.example.com', cookie: undefined }, ports)).toEqual({ kind: 'proxy' });
  });

  it('mixed: HTTP with the token stays, without it goes to HTTPS marked zminitmode=http, and back', () => {
    expect(mailModeAction('mixed', { scheme: 'http', target: '/', host: 'm.example.com', cookie: token }, ports)).toEqual({ kind: 'proxy' });
    expect(mailModeAction('mixed', { scheme: 'http', target: '/?a=b', host: 'm.example.com', cookie: undefined }, ports)).toEqual({
      kind: 'redirect',
      location: 'https://m.example.com/?a=b&zminitmode=http',
    });
    expect(mailModeAction('mixed', { scheme: 'http', target: '/?loginOp=logout', host: 'm.example.com', cookie: token }, ports)).toMatchObject({
      kind: 'redirect',
    });
    expect(mailModeAction('mixed', { scheme: 'https', target: '/?zminitmode=http&x=1', host: 'm.example.com', cookie: token }, ports)).toEqual({
      kind: 'redirect',
      location: 'http://m.example.com/?x=1',
    });
    expect(mailModeAction('mixed', { scheme: 'https', target: '/?zminitmode=http', host: 'm.example.com', cookie: undefined }, ports)).toEqual({
      kind: 'proxy',
    });
  });

  it('http, https and both proxy what their listeners get', () => {
    for (const mode of ['http', 'both'] as MailMode[])
      expect(mailModeAction(mode, { scheme: 'http', target: '/', host: 'h', cookie: undefined }, ports)).toEqual({ kind: 'proxy' });
    for (const mode of ['https', 'both'] as MailMode[])
      expect(mailModeAction(mode, { scheme: 'https', target: '/', host: 'h', cookie: undefined }, ports)).toEqual({ kind: 'proxy' });
  });
});
