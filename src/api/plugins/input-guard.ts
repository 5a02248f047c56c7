import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ValidationError, type FieldProblem } from '../../errors/errors.js';
import { jsonValueProblems, stringMapProblems, tooManyFields, tooManyFieldsMessage } from '../../validation/storable-text.js';

const located = (location: string, problems: FieldProblem[]) => problems.map((problem) => ({ in: location, ...problem }));

function invalid(problems: (FieldProblem & { in: string })[]): ValidationError {
  return new ValidationError(`${problems.length} problem${problems.length === 1 ? '' : 's'}: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`, problems);
}

/**
 * What every request must satisfy before any schema or handler sees it: JSON bodies parse, hold
 * only storable text, no prototype keys and no absurd nesting; query and path parameters hold
 * only storable text. Each failure is a 400 naming where it was.
 */
async function inputGuardPlugin(app: FastifyInstance): Promise<void> {
  // Replaces Fastify's parser, whose answer to a `__proto__` key is the false "not valid JSON".
  // JSON.parse makes `__proto__` an own property, never a prototype; the guard then refuses it by name.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (tooManyFields(text)) {
      done(invalid([{ in: 'body', field: '(root)', message: tooManyFieldsMessage }]), undefined);
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      const why = text.trim() === '' ? 'the body is empty; send a JSON document' : `the body is not valid JSON: ${(error as Error).message}`;
      done(invalid([{ in: 'body', field: '(root)', message: why }]), undefined);
      return;
    }
    const problems = jsonValueProblems(value);
    if (problems.length > 0) {
      done(invalid(located('body', problems)), undefined);
      return;
    }
    done(null, value);
  });

  app.addHook('preValidation', async (request) => {
    const problems = [...located('path', stringMapProblems(request.params)), ...located('query', stringMapProblems(request.query))];
    if (problems.length > 0) throw invalid(problems);
  });
}

export const inputGuard = fp(inputGuardPlugin, { name: 'input-guard' });
