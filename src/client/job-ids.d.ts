/** `0195ab3c1a2b` or `0195AB3C-1a2b` → `0195ab3c-1a2b`; null when it is not the start of an id. */
export function canonicalIdPrefix(prefix: string): string | null;
/** The length at which every id of `ids` reads differently (`minimum` at least, 8 by default), never ending on a dash. */
export function shortIdLength(ids: readonly string[], minimum?: number): number;
/** The smallest well-formed UUID above every id that starts with `prefix`, or null when there is none. */
export function idPrefixBound(prefix: string): string | null;
