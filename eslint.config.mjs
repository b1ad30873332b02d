import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

/**
 * Module boundaries (Nx tags, see each package.json):
 *  - type:contracts  subjects, schemas, error codes; depends on nothing of ours
 *  - type:util       small pure helpers every layer may use (client addresses); depends on nothing of ours
 *  - type:config     settings registry; contracts only
 *  - type:driver    the memcached protocol client (memcached): its only home; depends on nothing of ours
 *  - type:data-access ldapts's only home (directory), and the route cache on the memcached driver
 *  - type:codec      IMAP/POP3 parsing and encoding: bytes in, events out, no I/O; contracts and the wire kit only
 *  - type:wire-kit   what both mail codecs share (SASL, protocol sniffing): pure; contracts only
 *  - type:runtime    NATS, metrics, logging, lifecycle shared by the apps
 *  - type:client     what a frontend uses to reach the services (route and throttle clients)
 *  - type:app        a deployable service
 */
export default [
  { ignores: ['**/dist/**', '**/node_modules/**', '.nx/**', 'tmp/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: [], bannedExternalImports: ['net', 'node:net', 'tls', 'node:tls', 'ldapts', '@nats-io/*', '@nestjs/*'] },
            { sourceTag: 'type:util', onlyDependOnLibsWithTags: [], bannedExternalImports: ['tls', 'node:tls', 'ldapts', '@nats-io/*', '@nestjs/*'] },
            { sourceTag: 'type:driver', onlyDependOnLibsWithTags: [], bannedExternalImports: ['ldapts', '@nats-io/*', '@nestjs/*'] },
            { sourceTag: 'type:config', onlyDependOnLibsWithTags: ['type:contracts'], bannedExternalImports: ['tls', 'node:tls', 'ldapts', '@nats-io/*', '@nestjs/*'] },
            { sourceTag: 'type:data-access', onlyDependOnLibsWithTags: ['type:contracts', 'type:util', 'type:config', 'type:driver'], bannedExternalImports: ['@nats-io/*', '@nestjs/*'] },
            { sourceTag: 'type:runtime', onlyDependOnLibsWithTags: ['type:contracts', 'type:config'], bannedExternalImports: ['ldapts'] },
            { sourceTag: 'type:wire-kit', onlyDependOnLibsWithTags: ['type:contracts'], bannedExternalImports: ['ldapts', '@nats-io/*', '@nestjs/*'] },
            { sourceTag: 'type:codec', onlyDependOnLibsWithTags: ['type:contracts', 'type:wire-kit'], bannedExternalImports: ['ldapts', '@nats-io/*', '@nestjs/*'] },
            { sourceTag: 'type:client', onlyDependOnLibsWithTags: ['type:contracts', 'type:util', 'type:config', 'type:driver', 'type:data-access', 'type:runtime'], bannedExternalImports: ['ldapts', '@nestjs/*'] },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:contracts', 'type:util', 'type:config', 'type:driver', 'type:data-access', 'type:runtime', 'type:codec', 'type:wire-kit', 'type:client'], bannedExternalImports: ['ldapts'] },
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:cache', bannedExternalImports: ['ldapts'] },
          ],
        },
      ],
    },
  },
  // No I/O in contracts and codecs (Nx bans npm packages; Node's built-ins need ESLint's own rule).
  {
    files: ['libs/contracts/**/*.ts', 'libs/*-codec/**/*.ts', 'libs/sasl/**/*.ts', 'libs/protocol-sniff/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: ['net', 'node:net', 'tls', 'node:tls', 'dgram', 'node:dgram', 'http', 'node:http'].map((name) => ({ name, message: 'contracts and codecs are pure: no I/O' })) }],
    },
  },
];
