// Short job ids, as git shortens commit ids. Job ids are UUIDv7: time-ordered, so ids made within
// a minute share their first 8 characters and a fixed-width "short id" cannot tell them apart.
// Plain JavaScript (types in job-ids.d.ts): the CLI and the dashboard in the browser share it.

const LAYOUT = [8, 4, 4, 4, 12];

/** `0195ab3c1a2b` or `0195AB3C-1a2b` → `0195ab3c-1a2b`: hex digits in the id's own layout. */
export function canonicalIdPrefix(prefix) {
  const hex = prefix.toLowerCase().replace(/-/g, '');
  if (!/^[0-9a-f]{0,32}$/.test(hex)) return null;
  const groups = [];
  let at = 0;
  for (const width of LAYOUT) {
    if (at >= hex.length) break;
    groups.push(hex.slice(at, at + width));
    at += width;
  }
  const joined = groups.join('-');
  // A prefix that ends a group keeps its dash off: "0195ab3c" matches "0195ab3c-…" either way.
  return joined;
}

/**
 * The length at which every id of `ids` reads differently, `minimum` at least, never ending on a
 * dash. Every id shown in one list is cut to that length.
 */
export function shortIdLength(ids, minimum = 8) {
  const distinct = new Set(ids).size;
  let length = minimum;
  while (length < 36 && new Set(ids.map((id) => id.slice(0, length))).size < distinct) length += 1;
  while (length < 36 && ids.some((id) => id[length - 1] === '-')) length += 1;
  return length;
}

const VALID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * The smallest well-formed UUID above every id that starts with `prefix`, or null when there is
 * none: listing jobs `after` it (ids below it, newest first) starts with the ones that match.
 */
export function idPrefixBound(prefix) {
  const canonical = canonicalIdPrefix(prefix);
  if (canonical === null) return null;
  const hex = canonical.replace(/-/g, '');
  for (let keep = hex.length; keep > 0; keep -= 1) {
    const head = BigInt(`0x${hex.slice(0, keep)}`) + 1n;
    if (head >= 16n ** BigInt(keep)) continue;
    const digits = (head.toString(16).padStart(keep, '0') + '0'.repeat(32 - keep)).split('');
    // The version and variant digits the rest of the id leaves free take their smallest legal value.
    if (keep <= 12) digits[12] = '1';
    if (keep <= 16) digits[16] = '8';
    const text = digits.join('');
    const uuid = `${text.slice(0, 8)}-${text.slice(8, 12)}-${text.slice(12, 16)}-${text.slice(16, 20)}-${text.slice(20)}`;
    if (VALID.test(uuid)) return uuid;
  }
  return null;
}
