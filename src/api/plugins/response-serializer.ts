import type { FastifySerializerCompiler } from 'fastify';
import { serializerCompiler as checkingSerializerCompiler } from 'fastify-type-provider-zod';
import type { z } from 'zod';

type Projector = (value: unknown) => unknown;
type Def = { type: string; shape?: Record<string, z.ZodType>; element?: z.ZodType; innerType?: z.ZodType; out?: z.ZodType };

const identity: Projector = (value) => value;

const verbatim = new WeakSet<z.ZodType>();

/**
 * Marks a schema whose values are written as they are, unprojected: values this server made by
 * parsing with that very schema (a resolved job spec), so they hold nothing it does not declare.
 * Walking a spec field by field was most of the cost of a page of jobs.
 */
export function writtenVerbatim<T extends z.ZodType>(schema: T): T {
  verbatim.add(schema);
  return schema;
}

/**
 * Keeps only what the schema declares on each object it describes field by field, so nothing
 * internal (a project id, say) leaves the server; unions, records and scalars pass as they are:
 * they are the server's own values, checked when they were made.
 */
export function projectorOf(schema: z.ZodType): Projector {
  if (verbatim.has(schema)) return identity;
  const def = schema._zod.def as unknown as Def;
  switch (def.type) {
    case 'object': {
      const fields = Object.entries(def.shape!).map(([key, field]) => [key, projectorOf(field)] as const);
      return (value) => {
        if (value === null || typeof value !== 'object') return value;
        const source = value as Record<string, unknown>;
        const out: Record<string, unknown> = {};
        for (const [key, project] of fields) if (source[key] !== undefined) out[key] = project(source[key]);
        return out;
      };
    }
    case 'array': {
      const project = projectorOf(def.element!);
      return project === identity ? identity : (value) => (Array.isArray(value) ? value.map(project) : value);
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

/**
 * Responses are projected onto their schema and written with JSON.stringify: the schema-checking
 * serializer (zod, every field of every job's spec on every answer) took a quarter of a job read's
 * CPU. `strict` keeps the checking one, for the test suite, where a response that drifts from
 * its schema must fail.
 */
export function responseSerializerCompiler(strict: boolean): FastifySerializerCompiler<z.ZodType> {
  if (strict) return checkingSerializerCompiler as unknown as FastifySerializerCompiler<z.ZodType>;
  return ({ schema }) => {
    const project = projectorOf(schema);
    return (data) => JSON.stringify(project(data));
  };
}
