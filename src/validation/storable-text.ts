import type { FieldProblem } from '../errors/errors.js';
import { fieldFromPath } from '../errors/errors.js';

/**
 * PostgreSQL stores neither NUL in text nor a lone UTF-16 surrogate in jsonb, and neither means
 * anything in a name or a label: both are refused at the edge, naming where they were, rather than
 * failing deep in a write.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why a string cannot be stored as text, or null when it can. */
export function unstorableText(value: string): string | null {
  if (value.includes('\u0000')) return 'contains a NUL character (\\u0000)';
  if (LONE_SURROGATE.test(value)) return 'contains a lone UTF-16 surrogate (not valid Unicode)';
  return null;
}

/** Field names that mean an object's prototype to JavaScript: never a field of ours. */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Deeper than any valid request: a job spec nests a few levels, a predict input a few more. */
export const MAX_DEPTH = 32;

const MAX_PROBLEMS = 20;

/**
 * More object fields than any request has (a job spec has a few hundred at most): past this the
 * value is refused before a schema spends time listing them one by one. Array elements do not
 * count: a predict request may carry many numbers.
 */
export const MAX_FIELDS = 10_000;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;

/**
 * Whether JSON text has more object fields than MAX_FIELDS, found without parsing it: each colon
 * outside a string separates exactly one field from its value. One pass over the characters costs
 * a small fraction of JSON.parse on a body of many keys (2 ms against 35 ms for 30 000), so a flood
 * of such bodies is refused before it can hold up the event loop.
 */
export function tooManyFields(text: string): boolean {
  let fields = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === BACKSLASH) i++;
      else if (code === QUOTE) inString = false;
    } else if (code === QUOTE) inString = true;
    else if (code === COLON && ++fields > MAX_FIELDS) return true;
  }
  return false;
}

export const tooManyFieldsMessage = `has more than ${MAX_FIELDS} fields; no request of this API needs that many`;

/**
 * Problems with a parsed JSON value that no schema should have to meet: strings and keys that
 * cannot be stored, prototype keys, and nesting past MAX_DEPTH. Iterative, so a deep value cannot
 * exhaust the stack here either; stops after the first few problems.
 */
export function jsonValueProblems(root: unknown, maxDepth = MAX_DEPTH): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const stack: { value: unknown; path: (string | number)[] }[] = [{ value: root, path: [] }];
  let fields = 0;
  while (stack.length > 0 && problems.length < MAX_PROBLEMS) {
    const { value, path } = stack.pop()!;
    if (typeof value === 'string') {
      const why = unstorableText(value);
      if (why) problems.push({ field: fieldOf(path), message: why });
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (path.length >= maxDepth) {
      problems.push({ field: fieldOf(path), message: `nested deeper than ${maxDepth} levels` });
      continue;
    }
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], path: [...path, i] });
      continue;
    }
    const keys = Object.keys(value);
    fields += keys.length;
    if (fields > MAX_FIELDS) return [{ field: '(root)', message: tooManyFieldsMessage }];
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      const keyProblem = RESERVED_KEYS.has(key) ? `"${key}" is not allowed as a field name` : unstorableText(key);
      if (keyProblem) {
        problems.push({ field: fieldOf([...path, printable(key)]), message: keyProblem.startsWith('contains') ? `the field name ${keyProblem}` : keyProblem });
        continue;
      }
      stack.push({ value: (value as Record<string, unknown>)[key], path: [...path, key] });
    }
  }
  return problems;
}

/** Problems with flat string values (a query string, path parameters), named by their key. */
export function stringMapProblems(values: unknown): FieldProblem[] {
  if (!values || typeof values !== 'object') return [];
  const problems: FieldProblem[] = [];
  for (const [key, value] of Object.entries(values)) {
    const keyProblem = unstorableText(key);
    if (keyProblem) {
      problems.push({ field: printable(key), message: `the parameter name ${keyProblem}` });
      continue;
    }
    for (const item of Array.isArray(value) ? value : [value]) {
      const why = typeof item === 'string' ? unstorableText(item) : null;
      if (why) {
        problems.push({ field: printable(key), message: why });
        break;
      }
    }
  }
  return problems;
}

/** A name that can itself be shown and stored: the bad characters escaped, the empty name quoted. */
export function printable(value: string): string {
  return value === '' ? '""' : JSON.stringify(value).slice(1, -1);
}

function fieldOf(path: (string | number)[]): string {
  return fieldFromPath(path.map((segment) => (typeof segment === 'string' ? printable(segment) : segment))) || '(root)';
}
