const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A malformed id names nothing: callers answer 404, as for an unknown one, and never query a uuid column with it. */
export function isUuid(id: string): boolean {
  return UUID.test(id);
}
