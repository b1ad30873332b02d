/**
 * The Nx module boundaries are enforced, not decorative: each forbidden import below must be an
 * ESLint error, and an allowed one must not be.
 */
import { ESLint } from 'eslint';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');
const eslint = new ESLint({ cwd: root });

async function boundaryErrors(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, file) });
  return (result?.messages ?? []).filter((m) => m.ruleId === '@nx/enforce-module-boundaries' || m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('module boundaries', () => {
  it.each([
    ['contracts importing the directory', 'libs/contracts/src/x.ts', "import { LdapDirectory } from '@postern/directory';\nexport const x = LdapDirectory;\n"],
    ['contracts importing sockets', 'libs/contracts/src/x.ts', "import { connect } from 'node:net';\nexport const x = connect;\n"],
    ['the route cache importing ldapts', 'libs/route-cache/src/x.ts', "import { Client } from 'ldapts';\nexport const x = Client;\n"],
    ['an app importing ldapts directly', 'apps/route-lookup/src/x.ts', "import { Client } from 'ldapts';\nexport const x = Client;\n"],
    ['the directory importing the route cache', 'libs/directory/src/x.ts', "import { RouteCache } from '@postern/route-cache';\nexport const x = RouteCache;\n"],
    ['config importing the service kit', 'libs/config/src/x.ts', "import { Deadline } from '@postern/service-kit';\nexport const x = Deadline;\n"],
  ])('refuses %s', async (_what, file, code) => {
    expect(await boundaryErrors(file, code)).not.toEqual([]);
  });

  it('allows an app to use the libraries', async () => {
    const code = "import { RouteCache } from '@postern/route-cache';\nimport { ZimbraDirectory } from '@postern/directory';\nexport const x = [RouteCache, ZimbraDirectory];\n";
    expect(await boundaryErrors('apps/route-lookup/src/x.ts', code)).toEqual([]);
  });
});
