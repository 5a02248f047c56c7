const written = new WeakMap<object, string>();

/**
 * JSON.stringify of a value that never changes once made (a resolved job spec): stringified once
 * per process however often it is recorded or answered. The caller promises never to change it.
 */
export function jsonOnce(value: object): string {
  let json = written.get(value);
  if (json === undefined) {
    json = JSON.stringify(value);
    written.set(value, json);
  }
  return json;
}
