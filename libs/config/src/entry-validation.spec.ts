import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { certificateProblems, validateEntry } from './entry-validation';

const target = (mode: string) => ({ zimbraServiceHostname: ['m1'], zimbraMailMode: [mode], zimbraReverseProxyLookupTarget: ['TRUE'] });

describe('validateEntry', () => {
  it('refuses a setting of the wrong type, naming it', () => {
    expect(validateEntry('global', 'global', { zimbraReverseProxyIPLoginLimit: ['many'] }, { global: {}, servers: new Map() })).toEqual([
      expect.stringContaining('zimbraReverseProxyIPLoginLimit: invalid value "many"'),
    ]);
    expect(validateEntry('server', 'm1', { zimbraImapBindPort: ['70000'] }, { global: {}, servers: new Map() })[0]).toContain('zimbraImapBindPort');
  });

  it("holds each lookup target's zimbraMailMode to the seed's table", () => {
    const context = { global: {}, servers: new Map() };
    expect(validateEntry('server', 'm1', target('both'), context)).toEqual([]);
    expect(validateEntry('server', 'm1', target('https'), context)).toEqual([
      'server m1: zimbraReverseProxySSLToUpstreamEnabled=TRUE, zimbraReverseProxyMailMode=both, zimbraMailMode=https is not a supported combination; zimbraMailMode accepted behind zimbraReverseProxyMailMode=both: both',
    ]);
    // Not a lookup target: no rule.
    expect(validateEntry('server', 'm1', { ...target('https'), zimbraReverseProxyLookupTarget: ['FALSE'] }, context)).toEqual([]);
    // A global change that leaves a server behind is refused too.
    const servers = new Map([['m1', target('http')]]);
    expect(
      validateEntry('global', 'global', { zimbraReverseProxySSLToUpstreamEnabled: ['FALSE'], zimbraReverseProxyMailMode: ['http'] }, { global: {}, servers }),
    ).toEqual([]);
    expect(validateEntry('global', 'global', { zimbraReverseProxySSLToUpstreamEnabled: ['FALSE'] }, { global: {}, servers })[0]).toContain(
      'zimbraReverseProxySSLToUpstreamEnabled=FALSE, zimbraReverseProxyMailMode=both, zimbraMailMode=http',
    );
    expect(validateEntry('global', 'global', {}, { global: {}, servers })[0]).toContain('zimbraMailMode=http is not a supported combination');
    expect(
      validateEntry(
        'global',
        'global',
        { zimbraReverseProxySSLToUpstreamEnabled: ['FALSE'], zimbraReverseProxyMailMode: ['https'] },
        { global: {}, servers: new Map() },
      )[0],
    ).toContain('zimbraReverseProxyMailMode');
  });
});

describe('certificateProblems', () => {
  it('wants both or neither, parseable, and a matching pair', () => {
    expect(certificateProblems({})).toEqual([]);
    expect(certificateProblems({ zimbraSSLCertificate: ['x'] })).toEqual(['zimbraSSLCertificate and zimbraSSLPrivateKey: set both or neither']);
    expect(certificateProblems({ zimbraSSLCertificate: ['x'], zimbraSSLPrivateKey: ['y'] })[0]).toMatch(/^zimbraSSLCertificate: not a PEM certificate/);
  });
});

describe('a certificate and its key', () => {
  it('passes when they are a pair, and is refused when the key belongs to another certificate', () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-validation-'));
    try {
      const make = (name: string) => {
        execFileSync(
          'openssl',
          [
            'req',
            '-x509',
            '-newkey',
            'ec',
            '-pkeyopt',
            'ec_paramgen_curve:P-256',
            '-nodes',
            '-days',
            '1',
            '-subj',
            `/CN=${name}`,
            '-keyout',
            join(dir, `${name}.key`),
            '-out',
            join(dir, `${name}.pem`),
          ],
          { stdio: 'ignore' },
        );
        return { cert: readFileSync(join(dir, `${name}.pem`), 'utf8'), key: readFileSync(join(dir, `${name}.key`), 'utf8') };
      };
      const one = make('one');
      const two = make('two');
      expect(certificateProblems({ zimbraSSLCertificate: [one.cert], zimbraSSLPrivateKey: [one.key] })).toEqual([]);
      expect(certificateProblems({ zimbraSSLCertificate: [one.cert], zimbraSSLPrivateKey: [two.key] })).toEqual([
        'zimbraSSLPrivateKey: does not match zimbraSSLCertificate',
      ]);
      expect(certificateProblems({ zimbraSSLCertificate: [one.cert], zimbraSSLPrivateKey: ['nope'] })[0]).toMatch(
        /^zimbraSSLPrivateKey: not a PEM private key/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
