import { randomUUID } from 'node:crypto';
import type { FastifySerializerCompiler } from 'fastify';
import { serializerCompiler as checkingSerializerCompiler } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { jsonOnce } from '../../infra/json-once.js';

/** Projects a value onto its schema; verbatim values are written once into `written` and left as a marker. */
type Projector = (value: unknown, written: string[]) => unknown;
type Def = { type: string; shape?: Record<string, z.ZodType>; element?: z.ZodType; innerType?: z.ZodType; out?: z.ZodType };

const identity: Projector = (value) => value;

const verbatim = new WeakSet<z.ZodType>();

/**
 * Marks a schema whose values are written as they are, unprojected: values this server made by
 * parsing with that very schema (a resolved job spec), so they hold nothing it does not declare.
 * Such a value never changes once made (a job's spec is shared by every read of the job), so each
 * one is stringified once per process: writing 20 specs was most of the CPU a page's answer took.
 */
export function writtenVerbatim<T extends z.ZodType>(schema: T): T {
  verbatim.add(schema);
  return schema;
}

/**
 * Stands for a verbatim value in what JSON.stringify writes, replaced by the value's own JSON
 * afterwards. Random per process and never sent, so no string a client stored can equal it.
 */
const marker = randomUUID();
const markerStart = `"${marker}:`;

const projectVerbatim: Projector = (value, written) => {
  if (value === null || typeof value !== 'object') return value;
  return `${marker}:${written.push(jsonOnce(value)) - 1}`;
};

/**
 * Keeps only what the schema declares on each object it describes field by field, so nothing
 * internal (a project id, say) leaves the server; unions, records and scalars pass as they are:
 * they are the server's own values, checked when they were made.
 */
export function projectorOf(schema: z.ZodType): Projector {
  if (verbatim.has(schema)) return projectVerbatim;
  const def = schema._zod.def as unknown as Def;
  switch (def.type) {
    case 'object': {
      const fields = Object.entries(def.shape!).map(([key, field]) => [key, projectorOf(field)] as const);
      return (value, written) => {
        if (value === null || typeof value !== 'object') return value;
        const source = value as Record<string, unknown>;
        const out: Record<string, unknown> = {};
        for (const [key, project] of fields) if (source[key] !== undefined) out[key] = project(source[key], written);
        return out;
      };
    }
    case 'array': {
      const project = projectorOf(def.element!);
      return project === identity ? identity : (value, written) => (Array.isArray(value) ? value.map((element: unknown) => project(element, written)) : value);
    }
    case 'optional':
    case 'nullable':
    case 'default':
    case 'readonly':
      return projectorOf(def.innerType!);
    case 'pipe':
      return projectorOf(def.out!);
    default:
      return identity;
  }
}

/** Writes a value as its schema declares it: JSON.stringify of its projection, verbatim values spliced in. */
export function writerOf(schema: z.ZodType): (value: unknown) => string | undefined {
  const project = projectorOf(schema);
  return (value) => {
    const written: string[] = [];
    const json = JSON.stringify(project(value, written));
    if (written.length === 0) return json;
    const parts = json.split(markerStart);
    let out = parts[0]!;
    for (let i = 1; i < parts.length; i++) {
      const part = parts[i]!;
      const end = part.indexOf('"');
      out += written[Number(part.slice(0, end))]! + part.slice(end + 1);
    }
    return out;
  };
}

/**
 * Responses are written by `writerOf`, not checked: the schema-checking serializer (zod, every
 * field of every job's spec on every answer) took a quarter of a job read's CPU. `strict` keeps
 * the checking one, for the test suite, where a response that drifts from its schema must fail.
 */
export function responseSerializerCompiler(strict: boolean): FastifySerializerCompiler<z.ZodType> {
  if (strict) return checkingSerializerCompiler as unknown as FastifySerializerCompiler<z.ZodType>;
  return ({ schema }) => writerOf(schema) as (data: unknown) => string;
}
