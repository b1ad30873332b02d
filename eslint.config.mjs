import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

/**
 * Module boundaries (Nx tags, see each package.json):
 *  - type:contracts  subjects, schemas, error codes; depends on nothing of ours
 *  - type:util       small pure helpers every layer may use (client addresses); depends on nothing of ours
 *  - type:config     settings registry; contracts only
 *  - type:driver     the memcached protocol client (memcached): its only home; depends on nothing of ours
 *  - type:data-access ldapts's only home (directory), and the route cache and throttle windows on the memcached driver
 *  - type:wire-kit   what both mail codecs share (SASL, protocol sniffing): pure; contracts only
 *  - type:codec      IMAP/POP3 parsing and encoding: bytes in, events out, no I/O; contracts and the wire kit only
 *  - type:store      the config stream and bucket on JetStream, and a service's feed of them (config-store): no Nest
 *  - type:runtime    NATS, memcached, settings, metrics, logging, lifecycle shared by the apps (Nest)
 *  - type:client     what a frontend uses to reach the services (route and throttle clients)
 *  - type:app        a deployable service
 *  - type:test       the workspace's tests, harness and benches (test/)
 * and by scope (which part of Postern a project serves): shared, directory, cache, config (the
 * config store: the watcher writes it, the services that read settings and the command line read
 * it), mail (codecs), routing and throttle (the frontends' clients), one per app, and test. Every
 * type and every scope has a constraint: a tag without one would let its projects depend on anything.
 */
/** Every library type: what an app may use (and the tests, apps too). */
const LIBRARY_TYPES = [
  'type:contracts',
  'type:util',
  'type:config',
  'type:driver',
  'type:data-access',
  'type:store',
  'type:runtime',
  'type:wire-kit',
  'type:codec',
  'type:client',
];

export default [
  { ignores: ['**/dist/**', '**/node_modules/**', '.nx/**', 'tmp/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
  },
  { files: ['**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  {
    files: ['**/*.ts', '**/*.mts'],
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // The point of type-aware lint: a promise nobody awaits, or one handed where a callback's
      // result is ignored, is an error (recommendedTypeChecked has both; named here so they stay).
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // Off: fakes and ports implement Promise-returning interfaces with async methods that have
      // nothing to await; the rule would ask for Promise.resolve() wrappers that say less.
      '@typescript-eslint/require-await': 'off',
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            {
              sourceTag: 'type:contracts',
              onlyDependOnLibsWithTags: [],
              bannedExternalImports: ['net', 'node:net', 'tls', 'node:tls', 'ldapts', '@nats-io/*', '@nestjs/*'],
            },
            { sourceTag: 'type:util', onlyDependOnLibsWithTags: [], bannedExternalImports: ['tls', 'node:tls', 'ldapts', '@nats-io/*', '@nestjs/*'] },
            {
              sourceTag: 'type:config',
              onlyDependOnLibsWithTags: ['type:contracts'],
              bannedExternalImports: ['tls', 'node:tls', 'ldapts', '@nats-io/*', '@nestjs/*'],
            },
            { sourceTag: 'type:driver', onlyDependOnLibsWithTags: [], bannedExternalImports: ['ldapts', '@nats-io/*', '@nestjs/*'] },
            {
              sourceTag: 'type:data-access',
              onlyDependOnLibsWithTags: ['type:contracts', 'type:util', 'type:config', 'type:driver'],
              bannedExternalImports: ['@nats-io/*', '@nestjs/*'],
            },
            {
              sourceTag: 'type:store',
              onlyDependOnLibsWithTags: ['type:contracts', 'type:config'],
              bannedExternalImports: ['ldapts', '@nestjs/*', 'pino', 'prom-client'],
            },
            // The service kit provides the memcached client and the config feed to every service.
            {
              sourceTag: 'type:runtime',
              onlyDependOnLibsWithTags: ['type:contracts', 'type:config', 'type:driver', 'type:store'],
              bannedExternalImports: ['ldapts'],
            },
            { sourceTag: 'type:wire-kit', onlyDependOnLibsWithTags: ['type:contracts'], bannedExternalImports: ['ldapts', '@nats-io/*', '@nestjs/*'] },
            {
              sourceTag: 'type:codec',
              onlyDependOnLibsWithTags: ['type:contracts', 'type:wire-kit'],
              bannedExternalImports: ['ldapts', '@nats-io/*', '@nestjs/*'],
            },
            {
              sourceTag: 'type:client',
              onlyDependOnLibsWithTags: ['type:contracts', 'type:util', 'type:config', 'type:driver', 'type:data-access', 'type:runtime'],
              bannedExternalImports: ['ldapts', '@nestjs/*'],
            },
            {
              sourceTag: 'type:app',
              onlyDependOnLibsWithTags: LIBRARY_TYPES,
              bannedExternalImports: ['ldapts'],
            },
            {
              sourceTag: 'type:test',
              onlyDependOnLibsWithTags: [...LIBRARY_TYPES, 'type:app'],
            },
            // Scopes: what each part of Postern may know of the others.
            // Shared: the service kit wires the config feed into every service's settings.
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared', 'scope:cache', 'scope:config'] },
            { sourceTag: 'scope:config', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:directory', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:cache', onlyDependOnLibsWithTags: ['scope:shared', 'scope:cache'], bannedExternalImports: ['ldapts'] },
            { sourceTag: 'scope:mail', onlyDependOnLibsWithTags: ['scope:shared', 'scope:mail'] },
            { sourceTag: 'scope:routing', onlyDependOnLibsWithTags: ['scope:shared', 'scope:cache'] },
            { sourceTag: 'scope:throttle', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:route-lookup', onlyDependOnLibsWithTags: ['scope:shared', 'scope:directory', 'scope:cache', 'scope:config'] },
            { sourceTag: 'scope:login-throttle', onlyDependOnLibsWithTags: ['scope:shared', 'scope:cache'] },
            // The frontends read the directory for one thing: each virtual host's certificate (SNI).
            {
              sourceTag: 'scope:mail-proxy',
              onlyDependOnLibsWithTags: ['scope:shared', 'scope:directory', 'scope:config', 'scope:mail', 'scope:cache', 'scope:routing', 'scope:throttle'],
            },
            { sourceTag: 'scope:web-proxy', onlyDependOnLibsWithTags: ['scope:shared', 'scope:directory', 'scope:config', 'scope:cache', 'scope:routing'] },
            // The watcher reads the directory, writes the config store and drops cached routes; it serves no client.
            { sourceTag: 'scope:config-watcher', onlyDependOnLibsWithTags: ['scope:shared', 'scope:directory', 'scope:config', 'scope:cache'] },
            // The single-node host knows the service kit only: it finds the services it hosts by name when it starts.
            { sourceTag: 'scope:single-node', onlyDependOnLibsWithTags: ['scope:shared'] },
            // The operator's tool asks every service, so it may know every shared part but no frontend's insides.
            { sourceTag: 'scope:cli', onlyDependOnLibsWithTags: ['scope:shared', 'scope:directory', 'scope:config', 'scope:cache', 'scope:routing'] },
            {
              sourceTag: 'scope:test',
              onlyDependOnLibsWithTags: [
                'scope:shared',
                'scope:directory',
                'scope:cache',
                'scope:config',
                'scope:mail',
                'scope:routing',
                'scope:throttle',
                'scope:route-lookup',
                'scope:login-throttle',
                'scope:mail-proxy',
                'scope:web-proxy',
                'scope:config-watcher',
                'scope:cli',
                'scope:single-node',
              ],
            },
          ],
        },
      ],
    },
  },
  // No I/O in contracts and codecs (Nx bans npm packages; Node's built-ins need ESLint's own rule).
  {
    files: ['libs/contracts/**/*.ts', 'libs/*-codec/**/*.ts', 'libs/sasl/**/*.ts', 'libs/protocol-sniff/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['net', 'node:net', 'tls', 'node:tls', 'dgram', 'node:dgram', 'http', 'node:http'].map((name) => ({
            name,
            message: 'contracts and codecs are pure: no I/O',
          })),
        },
      ],
    },
  },
];
