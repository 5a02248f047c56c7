import { z } from 'zod';

export const idempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(255)
    .optional()
    .describe(
      'Retries with the same key get the first answer again (the response header idempotent-replayed says so), never a second resource. ' +
        'The same key with a different request is a 422; while the first is still running, a 409',
    ),
});
