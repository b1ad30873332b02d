/**
 * A V8 CPU profile (`node --cpu-prof`) summed by self time: the functions, and the files, where a
 * process spent its samples, as shares of the whole. Idle and the garbage collector are their own
 * lines, so what the code costs reads apart from what waiting costs.
 *
 *   npx tsx test/bench/support/cpuprofile-summary.ts PROFILE.cpuprofile [--top 30] [--timeline]
 *     [--from-s A] [--to-s B] [--logins N]
 *
 * `--timeline` prints the busy milliseconds of each second of the profile, to find where the load
 * ran; `--from-s`/`--to-s` keep only the samples within those seconds (the process's start-up, its
 * module loading, left out); `--logins N` adds each line's microseconds per login, for N logins in
 * the samples kept.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const { values, positionals } = parseArgs({
  options: {
    top: { type: 'string', default: '30' },
    timeline: { type: 'boolean', default: false },
    'from-s': { type: 'string', default: '0' },
    'to-s': { type: 'string', default: 'Infinity' },
    logins: { type: 'string' },
  },
  allowPositionals: true,
});
const file = positionals[0];
if (!file) throw new Error('usage: cpuprofile-summary.ts PROFILE.cpuprofile [--top N]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));

/** A file as a short, readable place: the package in node_modules, the path under src, or node's own module. */
function place(url: string): string {
  if (url === '') return '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const src = /(?:apps|libs)\/[^/]+\/(?:src|dist)\/.*$/.exec(url);
  return src ? src[0] : url.replace(/^file:\/\//, '');
}

const self = new Map<string, number>();
const files = new Map<string, number>();
let total = 0;
let busy = 0;
const [fromUs, toUs] = [Number(values['from-s']) * 1e6, Number(values['to-s']) * 1e6];
/** Busy µs per whole second since the first sample. */
const perSecond: number[] = [];
let elapsed = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  elapsed += dt;
  const frame = byId.get(id)!.callFrame;
  const second = Math.floor(elapsed / 1e6);
  if (frame.functionName !== '(idle)' && frame.functionName !== '(program)') perSecond[second] = (perSecond[second] ?? 0) + dt;
  if (elapsed < fromUs || elapsed >= toUs) return;
  total += dt;
  const name = frame.functionName || '(anonymous)';
  const where = place(frame.url);
  const key = frame.url === '' ? name : `${name} ${where}:${frame.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + dt);
  if (name !== '(idle)' && name !== '(program)') busy += dt;
  const fileKey = frame.url === '' ? name : where;
  files.set(fileKey, (files.get(fileKey) ?? 0) + dt);
});

const top = Number(values.top);
const logins = values.logins === undefined ? undefined : Number(values.logins);
const perLogin = (t: number) => (logins === undefined ? '' : `${(t / logins).toFixed(1).padStart(7)} µs`);
const share = (t: number) => `${((100 * t) / busy).toFixed(1).padStart(5)}%${perLogin(t)}`;
const print = (title: string, map: Map<string, number>) => {
  process.stdout.write(`\n${title}\n`);
  for (const [key, t] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    if (key === '(idle)' || key === '(program)') continue;
    process.stdout.write(`${share(t)}  ${key}\n`);
  }
};
process.stdout.write(
  `${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (shares below are of busy time; idle ${(((self.get('(idle)') ?? 0) / total) * 100).toFixed(0)}%, program ${(((self.get('(program)') ?? 0) / total) * 100).toFixed(0)}%)\n`,
);
if (values.timeline) {
  process.stdout.write('\nbusy ms per second\n');
  perSecond.forEach((us, second) => process.stdout.write(`${String(second).padStart(4)} s ${((us ?? 0) / 1000).toFixed(0).padStart(5)}\n`));
}
if (logins !== undefined) process.stdout.write(`busy per login: ${(busy / logins).toFixed(1)} µs over ${logins} logins\n`);
print('self time by function', self);
print('self time by file or package', files);
