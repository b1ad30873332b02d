/** Locations of the files shipped beside the library's code (schema and fixture). */
import { join } from 'node:path';

// This file runs from src/ (tests, ts paths) or dist/ (built): both are one level below the package.
const PACKAGE_ROOT = join(__dirname, '..');

/** The OpenLDAP schema (slapd.conf format) with the Zimbra attributes Postern uses. */
export const DIRECTORY_SCHEMA_PATH = join(PACKAGE_ROOT, 'schema', 'postern-zimbra.schema');
/** The shared LDIF fixture: test directory and embedded single-node directory. */
export const DIRECTORY_FIXTURE_PATH = join(PACKAGE_ROOT, 'fixtures', 'directory.ldif');
