import { readdir, readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';

const examplesDir = new URL('../../../examples/', import.meta.url);

/** examples/README.md's list: "- `name`: what the example shows". */
export function exampleDescriptions(markdown: string): Map<string, string> {
  return new Map([...markdown.matchAll(/^- `([\w.-]+)`: (.+)$/gm)].map(([, name, text]) => [name!, text!.trim()]));
}

/** examples/*.json with their descriptions, for the dashboard's editor and for people exploring the API. */
export async function exampleRoutes(app: FastifyInstance): Promise<void> {
  const files = (await readdir(examplesDir)).filter((file) => file.endsWith('.json')).sort();
  const descriptions = exampleDescriptions(await readFile(new URL('README.md', examplesDir), 'utf8'));
  const examples = await Promise.all(
    files.map(async (file) => {
      const name = file.replace(/\.json$/, '');
      return { name, description: descriptions.get(name) ?? '', spec: JSON.parse(await readFile(new URL(file, examplesDir), 'utf8')) as Record<string, unknown> };
    }),
  );
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/examples',
    {
      schema: {
        operationId: 'listExamples',
        tags: ['jobs'],
        summary: 'Example job specs, one per optimizer and technique',
        response: {
          200: z.object({ data: z.array(z.object({ name: z.string(), description: z.string().describe('What the example shows (examples/README.md)'), spec: z.record(z.string(), z.unknown()) })) }),
        },
      },
    },
    async () => ({ data: examples }),
  );
}
