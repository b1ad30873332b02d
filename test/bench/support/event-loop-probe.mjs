/**
 * What holds a Node process's event loop, second by second: preloaded into a process under a
 * bench's load (`npm run bench:web -- "--postern-node-args=--import $PWD/test/bench/support/event-loop-probe.mjs"`),
 * it appends one line a second to `$POSTERN_PROBE_DIR/probe-<pid>.log` (the system's temporary
 * directory when unset) with:
 *
 *   eld    the event loop's delay (perf_hooks.monitorEventLoopDelay, 1 ms resolution): p50, p99, max ms
 *   writeSync  the synchronous writes to files (descriptors above 2) on the loop: how many, p99 and
 *          max ms, how many took over 1 ms, bytes
 *   gc     the GC's pauses: how many, their total and longest ms, by kind (1 minor, 4 major,
 *          8 incremental marking, 16 weak callbacks)
 *   heap   new space and old space, size/used MB, and the process's RSS
 *
 * A diagnostic, not part of any service.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHistogram, monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

const out = path.join(process.env.POSTERN_PROBE_DIR || os.tmpdir(), `probe-${process.pid}.log`);
const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();

// Synchronous file writes, timed in microseconds (the histogram takes integers).
const writes = createHistogram();
let slowWrites = 0;
let writtenBytes = 0;
const writeSync = fs.writeSync;
// The CommonJS modules (the services' dist) read fs.writeSync from this same object at each call.
fs.writeSync = function timedWriteSync(fd, ...rest) {
  const start = performance.now();
  const written = writeSync.call(this, fd, ...rest);
  if (fd > 2) {
    const ms = performance.now() - start;
    writes.record(Math.max(1, Math.round(ms * 1000)));
    if (ms > 1) slowWrites++;
    writtenBytes += written;
  }
  return written;
};

let gcCount = 0;
let gcTotal = 0;
let gcMax = 0;
let gcKinds = {};
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcCount++;
    gcTotal += entry.duration;
    gcMax = Math.max(gcMax, entry.duration);
    const kind = entry.detail?.kind ?? 0;
    gcKinds[kind] = (gcKinds[kind] ?? 0) + 1;
  }
}).observe({ entryTypes: ['gc'] });

const ms = (ns) => (ns / 1e6).toFixed(2);
setInterval(() => {
  const writesText = writes.count ? `${(writes.percentile(99) / 1000).toFixed(3)} max ${(writes.max / 1000).toFixed(3)}` : '- max 0.000';
  const heap = v8
    .getHeapSpaceStatistics()
    .filter((s) => s.space_name === 'new_space' || s.space_name === 'old_space')
    .map((s) => `${s.space_name} ${(s.space_size / 1048576).toFixed(1)}/${(s.space_used_size / 1048576).toFixed(1)}`)
    .join(' ');
  const line =
    `${new Date().toISOString()} eld p50 ${ms(delay.percentile(50))} p99 ${ms(delay.percentile(99))} max ${ms(delay.max)}` +
    ` | writeSync n ${writes.count} p99 ${writesText} >1ms ${slowWrites} bytes ${writtenBytes}` +
    ` | gc n ${gcCount} total ${gcTotal.toFixed(1)} max ${gcMax.toFixed(2)} kinds ${JSON.stringify(gcKinds)}` +
    ` | ${heap} rss ${(process.memoryUsage.rss() / 1048576).toFixed(0)}\n`;
  const fd = fs.openSync(out, 'a');
  writeSync(fd, line);
  fs.closeSync(fd);
  delay.reset();
  writes.reset();
  slowWrites = 0;
  writtenBytes = 0;
  gcCount = 0;
  gcTotal = 0;
  gcMax = 0;
  gcKinds = {};
}, 1000).unref();
