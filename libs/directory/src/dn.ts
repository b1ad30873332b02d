/**
 * Distinguished-name comparison (RFC 4514 string form), as much of it as suffix matching needs.
 */

/**
 * Normalises a DN for comparison: RDNs split at unescaped commas, spaces around each RDN and around
 * `=` removed, case folded. Escapes (`\,`) are kept verbatim. Not a full RFC 4517
 * distinguishedNameMatch (no hex-escape or multi-valued RDN reordering); enough for DNs written by
 * hand or by slapd.
 */
export function normalizeDn(dn: string): string {
  return splitDn(dn)
    .map((rdn) => {
      const eq = rdn.indexOf('=');
      if (eq < 0) return rdn.trim().toLowerCase();
      return `${rdn.slice(0, eq).trim()}=${rdn.slice(eq + 1).trim()}`.toLowerCase();
    })
    .join(',');
}

/** True when `dn` is `base` or lies below it. The empty base (the root DSE) contains everything. */
export function isWithinBase(dn: string, base: string): boolean {
  const d = normalizeDn(dn);
  const b = normalizeDn(base);
  return b === '' || d === b || d.endsWith(`,${b}`);
}

function splitDn(dn: string): string[] {
  if (dn.trim() === '') return [];
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < dn.length; i += 1) {
    const ch = dn[i];
    if (ch === '\\') {
      current += dn.slice(i, i + 2);
      i += 1;
    } else if (ch === ',') {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}
