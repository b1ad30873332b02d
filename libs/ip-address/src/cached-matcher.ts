/** A matcher over a list read from the live settings, compiled again only when the list changes. */
import { IpMatcher } from './ip-match';

/**
 * A function giving the matcher for the list `list()` returns now. Settings reloads hand out new
 * arrays, so the list is compared by identity first (the common case: nothing changed, nothing to
 * do) and then by content, so a reload that leaves the list as it was keeps the compiled matcher.
 * Throws as {@link IpMatcher} does when the list holds a malformed entry; the next call tries again.
 */
export function cachedMatcher(list: () => readonly string[]): () => IpMatcher {
  let source: readonly string[] = [];
  let matcher = new IpMatcher(source);
  return () => {
    const current = list();
    if (current === source) return matcher;
    if (!sameEntries(current, source)) matcher = new IpMatcher(current);
    source = current;
    return matcher;
  };
}

function sameEntries(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((entry, i) => entry === b[i]);
}
