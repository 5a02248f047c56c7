import fc from 'fast-check';

/**
 * Generators of hostile input for the API fuzz suite: strings PostgreSQL cannot store, names that
 * mean something to JavaScript, huge and deep values, and mutations of valid job specs.
 */

export const nastyStrings = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udc00y',
  '\ud83d',
  '__proto__',
  'constructor',
  'prototype',
  'NaN',
  'Infinity',
  '-0',
  '1e999',
  '0x10',
  '%00',
  '%ZZ',
  '../../etc/passwd',
  '<script>alert(1)</script>',
  "'; DROP TABLE jobs; --",
  '\r\n',
  '\u202e',
  '😀',
  'x'.repeat(10_000),
];

export const weirdString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...nastyStrings) },
  { weight: 2, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
);

/** Any JSON value, now and then a huge or a deep one. */
export const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 3, arbitrary: weirdString },
  { weight: 2, arbitrary: fc.constantFrom(0, -1, 1.5, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, -1e308, 5e-324, Number.MAX_SAFE_INTEGER) },
  { weight: 1, arbitrary: fc.integer({ min: 40, max: 200 }).map((depth) => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`) as unknown) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 20_000 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 100_000 }).map((n) => Array.from({ length: n }, (_, i) => i)) },
);

type Path = (string | number)[];

/** Every path to a value inside `value` (objects and arrays), the root included. */
export function pathsOf(value: unknown, prefix: Path = []): Path[] {
  const out: Path[] = [prefix];
  if (Array.isArray(value)) value.forEach((item, i) => out.push(...pathsOf(item, [...prefix, i])));
  else if (value && typeof value === 'object') for (const [key, item] of Object.entries(value)) out.push(...pathsOf(item, [...prefix, key]));
  return out;
}

export type Mutation =
  | { kind: 'set'; at: number; value: unknown }
  | { kind: 'delete'; at: number }
  | { kind: 'addKey'; at: number; key: string; value: unknown };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: weirdValue }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('addKey' as const), at: fc.nat(), key: weirdString, value: weirdValue }) },
);

/** Applies the mutations to a deep copy; `__proto__` keys become own properties as JSON.parse would make them. */
export function mutate(base: unknown, mutations: Mutation[]): unknown {
  let root = structuredClone(base) as unknown;
  for (const m of mutations) {
    const paths = pathsOf(root);
    const path = paths[m.at % paths.length]!;
    if (path.length === 0) {
      if (m.kind === 'set') root = m.value;
      continue;
    }
    const parent = path.slice(0, -1).reduce<unknown>((node, key) => (node as Record<string | number, unknown>)[key], root) as Record<string | number, unknown>;
    const key = path.at(-1)!;
    if (m.kind === 'set') Object.defineProperty(parent, key, { value: m.value, enumerable: true, writable: true, configurable: true });
    else if (m.kind === 'delete') {
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete parent[key];
    } else {
      const target = parent[key];
      if (target && typeof target === 'object' && !Array.isArray(target)) Object.defineProperty(target, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
    }
  }
  return root;
}

/** Raw bodies that are not JSON at all, or barely. */
export const garbageBody: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.constantFrom('', '{', '}', '[', 'null', 'true', '"x"', '{"a":}', '{"a":1,}', '\u0000', '{"\\ud800": 1}', '{"a": "\\u0000"}', '[1,2', '{"__proto__": {"polluted": 1}}'),
);

/** A table as an uploader might send it, with cells a spreadsheet would never produce. */
const hostileTable = fc.record({
  columns: fc.oneof({ weight: 5, arbitrary: fc.array(weirdString, { maxLength: 12 }) }, { weight: 1, arbitrary: fc.integer({ min: 16_000, max: 40_000 }).map((n) => Array.from({ length: n }, (_, i) => `c${i}`)) }),
  rows: fc.array(fc.array(fc.oneof(fc.double({ noNaN: false }).map(String), fc.integer().map(String), weirdString, fc.constantFrom('"', '""', ',', '\n', 'a,b', '"open')), { maxLength: 14 }), { maxLength: 30 }),
});

/** A usable table now and then, with the odd bad cell: the path past the checks gets fuzzed too. */
const plausibleTable = fc.record({
  columns: fc.constant(['a', 'b', 'label']).map((columns) => [...columns]),
  rows: fc.array(fc.tuple(fc.double({ min: -10, max: 10, noNaN: true }).map(String), fc.oneof({ weight: 9, arbitrary: fc.integer().map(String) }, { weight: 1, arbitrary: weirdString }), fc.constantFrom('x', 'y', 'z')), { minLength: 2, maxLength: 30 }).map((rows) => rows.map((row) => [...row])),
});

export const table = fc.oneof(hostileTable, plausibleTable);

export function toCsv(columns: string[], rows: string[][], quoteAll: boolean): string {
  const cell = (value: string) => (quoteAll || /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);
  return [columns, ...rows].map((row) => row.map(cell).join(',')).join('\n') + '\n';
}

export function toRecords(columns: string[], rows: string[][]): Record<string, unknown>[] {
  return rows.map((row) => Object.fromEntries(columns.map((column, i) => [column, row[i] ?? null])));
}

/** A raw query string: pairs of arbitrary keys and values, encoded right, wrong, or not at all. */
export const rawQuery: fc.Arbitrary<string> = fc
  .array(
    fc.tuple(
      fc.oneof(fc.constantFrom('limit', 'after', 'status', 'scope', 'name', 'label', 'features', 'labelType', 'text', 'access_token', '__proto__', 'constructor'), weirdString),
      fc.oneof(weirdString, fc.integer().map(String), fc.constantFrom('2147483648', '-1', '1e400', '0x7fffffff', '', 'queued,running', 'epoch', 'batch', 'nope')),
      fc.constantFrom('encode', 'raw', 'percent-garbage'),
    ),
    { maxLength: 6 },
  )
  .map((pairs) =>
    pairs
      .map(([key, value, how]) => {
        if (how === 'encode') return `${encodeURIComponent(safeForUri(key))}=${encodeURIComponent(safeForUri(value))}`;
        if (how === 'percent-garbage') return `${key.slice(0, 20).replace(/[^\w]/g, '%')}=%E0%80%${value.length % 2 ? 'ZZ' : '00'}`;
        return `${key}=${value}`.replace(/[^\x21-\x7e]/g, '_').replace(/#/g, '%23');
      })
      .join('&'),
  );

/** encodeURIComponent throws on lone surrogates: send them as the UTF-8 a broken client would. */
function safeForUri(value: string): string {
  return value.replace(/[\ud800-\udfff]/g, '\ufffd');
}

/** Path segments a scanner would try. */
export const rawSegment: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('v1', 'jobs', 'datasets', 'admin', 'keys', 'projects', 'checkpoints', 'model', 'model.json', 'weights.bin', 'events', 'metrics', 'stream', 'predict', 'cancel', 'pause', 'resume', 'workers', 'examples', 'docs', 'healthz', '.', '..', '%2e%2e', '%2F', '%00', '%ZZ', '%61dmin', 'V1', '', ';', '00000000-0000-0000-0000-000000000000', 'x'.repeat(2000)),
  fc.string({ maxLength: 12 }).map((s) => encodeURIComponent(safeForUri(s))),
);

/**
 * Hostile image archives (test/support/zip-writer.ts builds them): entry names that leave the
 * archive or are absolute, links and devices, images cut short or replaced by noise, headers that
 * lie about sizes, and the archive itself cut short or with bytes flipped. `images` are valid PNGs
 * of two sizes to draw from.
 */
export function archiveCase(images: Buffer[]) {
  const name = fc.oneof(
    { weight: 6, arbitrary: fc.tuple(fc.constantFrom('train', 'val', 'test', 'Train', 'other'), fc.constantFrom('a', 'b', 'c'), fc.nat({ max: 9 }), fc.constantFrom('.png', '.jpg', '.PNG', '.gif', '')).map(([split, cls, i, ext]) => `${split}/${cls}/${i}${ext}`) },
    { weight: 1, arbitrary: fc.constantFrom('../x.png', 'train/a/../../../x.png', '/etc/x.png', 'C:/x.png', 'train\\a\\x.png', 'train/a/', 'train//a/x.png', 'train/./a/x.png', '__MACOSX/._x.png', 'train/a/.x.png', 'root/train/a/x.png') },
    { weight: 1, arbitrary: weirdString },
  );
  const data = fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...images) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...images), fc.nat()).map(([image, cut]) => image.subarray(0, cut % image.length)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)) },
  );
  const entry = fc.record({
    name,
    data,
    method: fc.constantFrom('store' as const, 'deflate' as const),
    mode: fc.oneof({ weight: 8, arbitrary: fc.constant(0o100644) }, { weight: 1, arbitrary: fc.constantFrom(0o120777, 0o010644, 0o020644, 0o040755, 0) }),
    declaredSize: fc.option(fc.oneof(fc.nat({ max: 5000 }), fc.constantFrom(0xffffffff, 2 ** 30)), { freq: 8, nil: undefined }),
  });
  // Archives that are well formed but for their images, so the decoding path is fuzzed as much as the checks before it.
  const plausible = fc.record({
    name: fc.tuple(fc.constantFrom('train', 'val'), fc.constantFrom('a', 'b'), fc.nat({ max: 99 })).map(([split, cls, i]) => `${split}/${cls}/${i}.png`),
    data: fc.oneof({ weight: 30, arbitrary: fc.constant(images[0]!) }, { weight: 1, arbitrary: data }),
  });
  return fc.record({
    entries: fc.oneof(fc.array(entry, { maxLength: 14 }), fc.uniqueArray(plausible, { minLength: 2, maxLength: 10, selector: (e) => e.name })),
    damage: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.record({ cut: fc.nat() }) }, { weight: 1, arbitrary: fc.record({ flip: fc.nat(), to: fc.nat({ max: 255 }) }) }),
    size: fc.option(fc.oneof({ weight: 6, arbitrary: fc.constantFrom('8x8', '4', '3x5') }, { weight: 1, arbitrary: fc.constantFrom('0x1', '99999x1', 'abc') }), { freq: 3 }),
    channels: fc.option(fc.oneof({ weight: 6, arbitrary: fc.constantFrom('1', '3') }, { weight: 1, arbitrary: fc.constant('2') }), { freq: 4 }),
  });
}
