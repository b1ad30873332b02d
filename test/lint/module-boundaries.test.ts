/**
 * The Nx module boundaries are enforced, not decorative: each forbidden import below must be an
 * ESLint error, and an allowed one must not be.
 */
import { ESLint } from 'eslint';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');
// The snippets below are files no tsconfig lists, so type-aware rules (which need a program) are
// switched off; the boundary rules need only the Nx project graph.
const eslint = new ESLint({ cwd: root, overrideConfig: tseslint.configs.disableTypeChecked });

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
    [
      'the directory importing the route cache',
      'libs/directory/src/x.ts',
      "import { RouteCache } from '@postern/route-cache';\nexport const x = RouteCache;\n",
    ],
    ['config importing the service kit', 'libs/config/src/x.ts', "import { Deadline } from '@postern/service-kit';\nexport const x = Deadline;\n"],
    // Allowed by type, refused by scope: each app and client knows only the parts it serves.
    [
      'the login throttle importing the directory',
      'apps/login-throttle/src/x.ts',
      "import { ZimbraDirectory } from '@postern/directory';\nexport const x = ZimbraDirectory;\n",
    ],
    [
      'the route lookup importing a mail codec',
      'apps/route-lookup/src/x.ts',
      "import { parseCommand } from '@postern/imap-codec';\nexport const x = parseCommand;\n",
    ],
    [
      'the web proxy importing a mail codec',
      'apps/web-proxy/src/x.ts',
      "import { parseCommand } from '@postern/imap-codec';\nexport const x = parseCommand;\n",
    ],
    [
      'the web proxy importing the throttle client',
      'apps/web-proxy/src/x.ts',
      "import { ThrottleClient } from '@postern/throttle-client';\nexport const x = ThrottleClient;\n",
    ],
    [
      'the route client importing the directory',
      'libs/route-client/src/x.ts',
      "import { ZimbraDirectory } from '@postern/directory';\nexport const x = ZimbraDirectory;\n",
    ],
    [
      'the throttle client importing the route cache',
      'libs/throttle-client/src/x.ts',
      "import { RouteCache } from '@postern/route-cache';\nexport const x = RouteCache;\n",
    ],
    // The config store: the watcher writes it; the services that read settings and the command line read it.
    [
      'the config store importing the service kit',
      'libs/config-store/src/x.ts',
      "import { Deadline } from '@postern/service-kit';\nexport const x = Deadline;\n",
    ],
    ['the config store importing Nest', 'libs/config-store/src/x.ts', "import { Injectable } from '@nestjs/common';\nexport const x = Injectable;\n"],
    [
      'the route client importing the config store',
      'libs/route-client/src/x.ts',
      "import { ConfigFeed } from '@postern/config-store';\nexport const x = ConfigFeed;\n",
    ],
    [
      'the login throttle importing the config store',
      'apps/login-throttle/src/x.ts',
      "import { ConfigStore } from '@postern/config-store';\nexport const x = ConfigStore;\n",
    ],
    [
      'a mail codec importing the config store',
      'libs/imap-codec/src/x.ts',
      "import { ConfigStore } from '@postern/config-store';\nexport const x = ConfigStore;\n",
    ],
  ])('refuses %s', async (_what, file, code) => {
    expect(await boundaryErrors(file, code)).not.toEqual([]);
  });

  it('allows an app to use the libraries', async () => {
    const code =
      "import { RouteCache } from '@postern/route-cache';\nimport { ZimbraDirectory } from '@postern/directory';\nexport const x = [RouteCache, ZimbraDirectory];\n";
    expect(await boundaryErrors('apps/route-lookup/src/x.ts', code)).toEqual([]);
  });

  it('allows the mail proxy its codecs and clients', async () => {
    const code =
      "import { parseCommand } from '@postern/imap-codec';\nimport { ThrottleClient } from '@postern/throttle-client';\nimport { RouteClient } from '@postern/route-client';\nexport const x = [parseCommand, ThrottleClient, RouteClient];\n";
    expect(await boundaryErrors('apps/mail-proxy/src/x.ts', code)).toEqual([]);
  });

  it.each([
    ['the config-watcher', 'apps/config-watcher/src/x.ts'],
    ['the command line', 'apps/cli/src/x.ts'],
    ['the web proxy', 'apps/web-proxy/src/x.ts'],
    ['the service kit', 'libs/service-kit/src/x.ts'],
  ])('allows %s the config store', async (_who, file) => {
    const code = "import { ConfigStore } from '@postern/config-store';\nexport const x = ConfigStore;\n";
    expect(await boundaryErrors(file, code)).toEqual([]);
  });

  it('gives every tag in use a constraint', async () => {
    const config = (await eslint.calculateConfigForFile(join(root, 'apps/mail-proxy/src/x.ts'))) as {
      rules: Record<string, [string, { depConstraints: { sourceTag: string }[] }]>;
    };
    const constrained = new Set(config.rules['@nx/enforce-module-boundaries']![1].depConstraints.map((c) => c.sourceTag));
    const dir = mkdtempSync(join(tmpdir(), 'postern-graph-'));
    const file = join(dir, 'graph.json');
    let graph: { graph: { nodes: Record<string, { data: { tags?: string[] } }> } };
    try {
      execFileSync('npx', ['nx', 'graph', `--file=${file}`], { cwd: root, stdio: 'ignore', env: { ...process.env, NX_DAEMON: 'false' } });
      graph = JSON.parse(readFileSync(file, 'utf8')) as typeof graph;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // `npm:*` tags are Nx's own, read from package.json (npm:private), not Postern's boundaries.
    const tags = Object.values(graph.graph.nodes).flatMap((node) => (node.data.tags ?? []).filter((tag) => !tag.startsWith('npm:')));
    expect(tags.length).toBeGreaterThan(0);
    expect([...new Set(tags)].filter((tag) => !constrained.has(tag))).toEqual([]);
  }, 60_000); // computing the project graph takes seconds on a loaded machine
});
