import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { NotFoundError } from '../../errors/errors.js';
import type { Services } from '../../infra/services.js';
import { projectOf } from '../plugins/auth.js';
import { checkpointParamsSchema, checkpointSchema, jobIdParamsSchema, problemSchema } from '../schemas/job-schemas.js';

/** The two files of a checkpoint that make a TF.js layers model; the rest is training state. */
const modelFiles = { 'model.json': 'application/json', 'weights.bin': 'application/octet-stream' } as const;
const modelFileSchema = z.enum(Object.keys(modelFiles) as ['model.json', 'weights.bin']).describe('model.json (topology and weights manifest) or weights.bin');
const modelFileResponse = {
  description: 'model.json (the topology and the weights manifest) or weights.bin (the weights, float32 little-endian)',
  content: {
    [modelFiles['model.json']]: { type: 'object' as const, description: 'TF.js layers model: modelTopology and weightsManifest' },
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

    const sendFile = async (reply: FastifyReply, folder: string, file: keyof typeof modelFiles) => {
      const full = await servablePath(root, path.join(folder, file));
      const info = full ? await stat(full).catch(() => null) : null;
      if (!full || !info?.isFile()) throw new NotFoundError('file', `${file} of ${folder} (its artifact is missing from ARTIFACT_DIR)`);
      return reply.type(modelFiles[file]).header('content-length', info.size).send(createReadStream(full));
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
          summary: "A checkpoint's model as TF.js files (model.json, weights.bin)",
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
          summary: 'The final model as TF.js files: tf.loadLayersModel(".../v1/jobs/{id}/model/model.json")',
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
