import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Predictor } from '../../inference/predictor.js';
import { backendChoiceOf } from '../../engine/backend.js';
import { projectOf } from '../plugins/auth.js';
import type { Services } from '../../infra/services.js';
import { jobIdParamsSchema, problemSchema } from '../schemas/job-schemas.js';

// Mirrors MAX_PREDICT_ROWS; the predictor module (and TF.js with it) loads on the first request only.
const MAX_ROWS = 10_000;

const predictionSchema = z
  .object({
    class: z.int().optional().describe('The most probable class'),
    label: z.string().optional().describe("Its name in the data set"),
    probabilities: z.array(z.number()).optional().describe('Every class, in class order'),
    values: z.union([z.array(z.number()), z.array(z.array(z.number()))]).optional().describe('A regression\'s outputs'),
  })
  .meta({ id: 'Prediction' });

export function predictRoutes(services: Services) {
  return async (app: FastifyInstance): Promise<void> => {
    let predictor: Promise<Predictor> | null = null;
    const getPredictor = () =>
      (predictor ??= import('../../inference/predictor.js').then(
        ({ Predictor }) => new Predictor(services.store, services.datasets, services.config.ARTIFACT_DIR, backendChoiceOf(services.config)),
      ));
    app.withTypeProvider<ZodTypeProvider>().post(
      '/v1/jobs/:id/predict',
      {
        schema: {
          operationId: 'predict',
          tags: ['jobs'],
          summary: "Predict with a job's model: rows in the data set's raw form (the job's preprocessing is applied)",
          description:
            'Uses the final checkpoint, or the newest of a job still training, or `checkpoint`. Each input is one row shaped like the ' +
            "model's input (e.g. [4] for iris, [28, 28, 1] or 784 numbers for MNIST images). A wrong shape is a 400 naming the row and the expected shape.",
          params: jobIdParamsSchema,
          body: z.strictObject({
            inputs: z.array(z.unknown()).min(1).max(MAX_ROWS),
            checkpoint: z.uuid().optional().describe('A checkpoint id from GET /v1/jobs/{id}/checkpoints'),
          }),
          response: {
            200: z.object({ checkpoint: z.uuid(), predictions: z.array(predictionSchema) }),
            400: problemSchema,
            404: problemSchema,
            409: problemSchema,
          },
        },
      },
      async (request) => (await getPredictor()).predict(projectOf(request).id, request.params.id, request.body.inputs, request.body.checkpoint),
    );
  };
}
