import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { builtInDatasets } from '../../engine/datasets/catalog.js';

const datasetSchema = z
  .object({
    name: z.string(),
    description: z.string(),
    task: z.literal('classification'),
    featureShape: z.array(z.int()),
    classes: z.int(),
    classNames: z.array(z.string()),
    rows: z.int(),
    source: z.string(),
    license: z.string(),
    builtIn: z.boolean(),
  })
  .meta({ id: 'Dataset' });

export async function datasetRoutes(app: FastifyInstance): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/datasets',
    { schema: { tags: ['datasets'], summary: 'Data sets a job spec can name', response: { 200: z.object({ data: z.array(datasetSchema) }) } } },
    async () => ({
      data: Object.values(builtInDatasets).map((info) => ({
        ...info,
        featureShape: [...info.featureShape],
        classNames: [...info.classNames],
        builtIn: true,
      })),
    }),
  );
}
