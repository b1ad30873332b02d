/**
 * Run before every integration test file (vitest.config.mts `setupFiles`). Its `afterAll` runs
 * after the file's own (vitest runs after-hooks in reverse order), once the file's servers are
 * stopped: the scratch directories the file left behind are removed then, and removals still under
 * way (a store that goes as its server exits) are waited for, since vitest ends its workers without
 * the `exit` event the harness would otherwise remove them on.
 */
import { afterAll } from 'vitest';
import { settleScratchDirs } from './process';

afterAll(() => settleScratchDirs());
