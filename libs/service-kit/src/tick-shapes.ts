/**
 * Keeps `process.nextTick` on V8's fast path for the life of the process.
 *
 * Node 20 builds each tick as an object literal with computed keys (`{ [async_id_symbol]: …,
 * [trigger_async_id_symbol]: …, callback, args }`). V8 defines those keys through an inline cache
 * that remembers, weakly, the hidden classes (maps) the literal passes through, and that has no
 * polymorphic state: a map it does not know makes it megamorphic, for good. Those maps are held
 * only by live tick objects. A full GC that runs while none is alive (an idle moment between two
 * bursts of load) collects them; the next tick builds new ones, and from then on every
 * `nextTick` (dozens per request: streams, sockets, HTTP) defines its properties in the runtime.
 * Measured with `perf` on the web proxy, that was 6 % of its CPU per request, and a bare
 * node:http + undici relay did the same after one `gc()` between two loads.
 *
 * Holding one tick object for good keeps its map, and the maps before it, alive: the cache stays
 * monomorphic. The tick object is caught with an async hook enabled for that one `nextTick` call
 * only. Called first thing in a process's entry (main.ts), before load can reach a full GC.
 */
import { createHook } from 'node:async_hooks';

let kept: object | undefined;

/** Holds one tick object (once per process); returns it, or undefined when none was seen. */
export function keepTickShapes(): object | undefined {
  if (kept) return kept;
  const hook = createHook({
    init(_asyncId, type, _triggerAsyncId, resource) {
      if (type === 'TickObject') kept ??= resource;
    },
  });
  hook.enable();
  try {
    process.nextTick(noop);
  } finally {
    hook.disable();
  }
  return kept;
}

function noop(): void {}
