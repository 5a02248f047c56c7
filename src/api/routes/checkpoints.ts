import { createReadStream } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { CheckpointData } from '../../engine/checkpoint-data.js';
import { NotFoundError } from '../../errors/errors.js';
import type { Services } from '../../infra/services.js';
import { projectOf } from '../plugins/auth.js';
import { checkpointParamsSchema, checkpointSchema, jobIdParamsSchema, problemSchema } from '../schemas/job-schemas.js';

/**
 * The two files of a checkpoint that make a TF.js layers model, and what its inputs need first
 * (taken from the training state, the rest of which is not served).
 */
const modelFiles = { 'model.json': 'application/json', 'weights.bin': 'application/octet-stream', 'preprocessing.json': 'application/json' } as const;
type ModelFile = keyof typeof modelFiles;
const modelFileSchema = z
  .enum(Object.keys(modelFiles) as [ModelFile, ...ModelFile[]])
  .describe('model.json (topology and weights manifest), weights.bin, or preprocessing.json (what to do to raw inputs first)');
const modelFileResponse = {
  description:
    'model.json (the topology and the weights manifest), weights.bin (the weights, float32 little-endian), or preprocessing.json: ' +
    '{"preprocessing": …} with the scaling fitted on the training rows ({features, shift, scale}: x′ = (x − shift) / scale), ' +
    'a text set\'s vocabulary ({text, tokens}: tokens[i] has id i + 2; 0 pads, 1 is any other token), or null',
  content: {
    'application/json': { type: 'object' as const, description: 'model.json: a TF.js layers model (modelTopology and weightsManifest); preprocessing.json: {preprocessing}' },
    [modelFiles['weights.bin']]: { type: 'string' as const, format: 'binary' },
  },
};

/**
 * The file's path when it really lies under the artifact root: a symbolic link planted anywhere
 * below the root (to /etc/passwd, or to another project's checkpoint) is not followed. The root
 * itself may be a link (a mounted volume).
 */
export async function servablePath(root: string, relative: string): Promise<string | null> {
  try {
    const realRoot = await realpath(root);
    const expected = path.resolve(realRoot, relative);
    if (!expected.startsWith(realRoot + path.sep)) return null;
    return (await realpath(expected)) === expected ? expected : null;
  } catch {
    return null;
  }
}

export function checkpointRoutes(services: Services) {
  return async (app: FastifyInstance): Promise<void> => {
    const api = app.withTypeProvider<ZodTypeProvider>();
    const root = services.config.ARTIFACT_DIR;

    const sendFile = async (reply: FastifyReply, folder: string, file: ModelFile) => {
      if (file === 'preprocessing.json') return sendPreprocessing(reply, folder);
      const full = await servablePath(root, path.join(folder, file));
      const info = full ? await stat(full).catch(() => null) : null;
      if (!full || !info?.isFile()) throw new NotFoundError('file', `${file} of ${folder} (its artifact is missing from ARTIFACT_DIR)`);
      return reply.type(modelFiles[file]).header('content-length', info.size).send(createReadStream(full));
    };

    const sendPreprocessing = async (reply: FastifyReply, folder: string) => {
      const full = await servablePath(root, path.join(folder, 'state.json'));
      const state = full ? await readFile(full, 'utf8').catch(() => null) : null;
      if (state === null) throw new NotFoundError('file', `preprocessing.json of ${folder} (its artifact is missing from ARTIFACT_DIR)`);
      const { preprocessing } = JSON.parse(state) as Pick<CheckpointData, 'preprocessing'>;
      return reply.type(modelFiles['preprocessing.json']).send({ preprocessing: preprocessing ?? null });
    };

    api.get(
      '/v1/jobs/:id/checkpoints',
      {
        schema: {
          operationId: 'listCheckpoints',
          tags: ['jobs'],
          summary: "The job's retained checkpoints, oldest first",
          params: jobIdParamsSchema,
          response: { 200: z.object({ data: z.array(checkpointSchema) }), 404: problemSchema },
        },
      },
      async (request) => {
        const { id } = request.params;
        const checkpoints = await services.jobs.checkpoints(projectOf(request).id, id);
        return {
          data: checkpoints.map((checkpoint) => {
            const base = `/v1/jobs/${id}/checkpoints/${checkpoint.id}`;
            return { ...checkpoint, links: { modelJson: `${base}/model.json`, weights: `${base}/weights.bin` } };
          }),
        };
      },
    );

    api.get(
      '/v1/jobs/:id/checkpoints/:checkpointId/:file',
      {
        schema: {
          operationId: 'getCheckpointFile',
          tags: ['jobs'],
          summary: "A checkpoint's model as TF.js files (model.json, weights.bin), and what its inputs need first (preprocessing.json)",
          params: checkpointParamsSchema.extend({ file: modelFileSchema }),
          response: { 404: problemSchema },
          openapi: { responses: { 200: modelFileResponse } },
        },
      },
      async (request, reply) => {
        const { id, checkpointId, file } = request.params;
        return sendFile(reply, await services.jobs.checkpointFolder(projectOf(request).id, id, checkpointId), file);
      },
    );

    api.get(
      '/v1/jobs/:id/model/:file',
      {
        schema: {
          operationId: 'getModelFile',
          tags: ['jobs'],
          summary: 'The final model as TF.js files: tf.loadLayersModel(".../v1/jobs/{id}/model/model.json"); preprocessing.json says what its inputs need first',
          description: 'TF.js sends no headers of its own: pass them, e.g. `tf.loadLayersModel(url, { requestInit: { headers: { authorization: "Bearer <key>" } } })`.',
          params: jobIdParamsSchema.extend({ file: modelFileSchema }),
          response: { 404: problemSchema },
          openapi: { responses: { 200: modelFileResponse } },
        },
      },
      async (request, reply) => {
        const { id, file } = request.params;
        return sendFile(reply, await services.jobs.checkpointFolder(projectOf(request).id, id, 'final'), file);
      },
    );
  };
}
