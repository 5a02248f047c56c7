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

// Mirrors MAX_SAMPLE_ROWS, for the same reason.
const MAX_SAMPLE_ROWS = 200_000;

const perStep = (schema: z.ZodType) => z.union([schema, z.array(schema)]);

const predictionSchema = z
  .object({
    class: perStep(z.int()).optional().describe('The most probable class (per step for a model with a class per step)'),
    label: perStep(z.string()).optional().describe('Its name in the data set'),
    probabilities: z
      .union([z.array(z.number()), z.array(z.array(z.number()))])
      .optional()
      .describe('Every class, in class order (with `uncertainty`: the mean over the passes)'),
    values: z.union([z.array(z.number()), z.array(z.array(z.number()))]).optional().describe("A regression's outputs (with `uncertainty`: the mean over the passes)"),
    uncertainty: z
      .object({
        predictiveEntropy: perStep(z.number()).optional().describe('Classification: H[p̄] = −Σ p̄ ln p̄ of the mean probabilities, in nats: all uncertainty'),
        expectedEntropy: perStep(z.number()).optional().describe('Classification: the mean over the passes of each pass\'s entropy: the uncertainty of the data'),
        mutualInformation: perStep(z.number())
          .optional()
          .describe('Classification: predictive − expected entropy (≥ 0): the passes disagreeing, the uncertainty of the model'),
        variance: z
          .union([z.array(z.number()), z.array(z.array(z.number()))])
          .optional()
          .describe('Regression: (1/T) Σ (y_t − ȳ)² per output value, the predictive variance of the passes'),
      })
      .optional()
      .describe('With an uncertainty request only'),
  })
  .meta({ id: 'Prediction' });

const uncertaintyRequestSchema = z
  .strictObject({
    method: z.literal('mcDropout').describe('Monte Carlo dropout (Gal & Ghahramani 2016): dropout stays on at prediction'),
    samples: z.int().min(1).max(1000).default(50).describe(`T: stochastic passes per input; inputs × samples is at most ${MAX_SAMPLE_ROWS}`),
    seed: z
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(0)
      .describe('Seeds the dropout masks: the same request (inputs, checkpoint, samples, seed) gives the same answer'),
  })
  .meta({
    id: 'UncertaintyRequest',
    description:
      "T passes per input with the model's dropout on (dropout layers and recurrent dropout in the layer's dropoutMode; batch norm uses its running statistics); " +
      'each prediction is their mean, with its uncertainty. A model without dropout is a 422',
  });

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
            "model's input (e.g. [4] for iris, [28, 28, 1] or 784 numbers for MNIST images). A wrong shape is a 400 naming the row and the expected shape. " +
            'With `uncertainty` each input is run T times with dropout on and answered with the mean and its uncertainty (docs/jobs.md#predictive-uncertainty).',
          params: jobIdParamsSchema,
          body: z.strictObject({
            inputs: z.array(z.unknown()).min(1).max(MAX_ROWS),
            checkpoint: z.uuid().optional().describe('A checkpoint id from GET /v1/jobs/{id}/checkpoints'),
            uncertainty: uncertaintyRequestSchema.optional(),
          }),
          response: {
            200: z.object({
              checkpoint: z.uuid(),
              uncertainty: uncertaintyRequestSchema
                .extend({ forwardCalls: z.int().describe('Forward calls the inputs × samples passes took (batched as memory allows)') })
                .optional()
                .describe('The uncertainty request as run'),
              predictions: z.array(predictionSchema),
            }),
            400: problemSchema,
            404: problemSchema,
            409: problemSchema,
            422: problemSchema,
          },
        },
      },
      async (request) => (await getPredictor()).predict(projectOf(request).id, request.params.id, request.body),
    );
  };
}
