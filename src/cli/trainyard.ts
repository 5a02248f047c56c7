/**
 * trainyard: the command line on the typed client.
 *   trainyard submit spec.json [--follow]   queue a job; --follow shows progress and epoch metrics
 *   trainyard jobs [--status S]             list jobs
 *   trainyard logs <id>                     the job's events
 *   trainyard cancel <id>
 *   trainyard download <id> [--out DIR]     the final model (model.json + weights.bin)
 * The API is --url, else TRAINYARD_URL, else http://localhost:3000; the key is TRAINYARD_API_KEY
 * (an option would leave it in the shell history and the process list).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { TrainyardApiError, TrainyardClient, type Job, type StreamMessage } from '../client/index.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { url: { type: 'string' }, follow: { type: 'boolean', default: false }, status: { type: 'string' }, out: { type: 'string' } },
});
const client = new TrainyardClient(values.url ?? process.env.TRAINYARD_URL ?? 'http://localhost:3000', { apiKey: process.env.TRAINYARD_API_KEY });
const [command, argument] = positionals;
const out = (line: string) => process.stdout.write(`${line}\n`);
const fmt = (value: unknown) => (typeof value === 'number' ? Number(value.toPrecision(4)).toString() : String(value));

function bar(progress: number, width = 30): string {
  const filled = Math.round(progress * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.round(progress * 100)}%`;
}

async function follow(job: Job): Promise<number> {
  let status = job.status;
  const epochs = job.spec.epochs;
  const live = process.stdout.isTTY;
  await client.follow(job.id, (event: StreamMessage) => {
    const data = event.data ?? {};
    if (event.type === 'status') {
      status = data.status as Job['status'];
      if (live) process.stdout.write('\n');
      out(`status ${status}${data.reason ? ` (${String(data.reason)})` : ''}`);
    } else if (event.type === 'metrics') {
      const values = data.values as Record<string, number>;
      const progress = typeof data.progress === 'number' ? data.progress : 0;
      const line = `${bar(progress)} epoch ${data.epoch}/${epochs} ${Object.entries(values).map(([k, v]) => `${k} ${fmt(v)}`).join('  ')}`;
      if (data.scope === 'epoch') {
        if (live) process.stdout.write('\r\x1b[K');
        out(line);
      } else if (live) {
        process.stdout.write(`\r\x1b[K${line}`);
      }
    }
  });
  return status === 'succeeded' ? 0 : 1;
}

async function main(): Promise<number> {
  switch (command) {
    case 'submit': {
      if (!argument) throw new Error('usage: trainyard submit <spec.json> [--follow]');
      const job = await client.submit(JSON.parse(await readFile(argument, 'utf8')));
      out(`job ${job.id} ${job.status}`);
      return values.follow ? follow(job) : 0;
    }
    case 'jobs': {
      const page = await client.jobs({ ...(values.status ? { status: values.status } : {}), limit: 100 });
      for (const job of page.data) out(`${job.id}  ${job.status.padEnd(10)}  ${Math.round(job.progress * 100)}%  ${job.name ?? ''}`);
      return 0;
    }
    case 'logs': {
      if (!argument) throw new Error('usage: trainyard logs <id>');
      for (const event of await client.events(argument)) out(`${event.seq}  ${event.createdAt}  ${event.type}  ${JSON.stringify(event.data)}`);
      return 0;
    }
    case 'cancel': {
      if (!argument) throw new Error('usage: trainyard cancel <id>');
      out(`job ${argument} ${(await client.cancel(argument)).status}`);
      return 0;
    }
    case 'download': {
      if (!argument) throw new Error('usage: trainyard download <id> [--out DIR]');
      const folder = values.out ?? `model-${argument}`;
      const { modelJson, weights } = await client.model(argument);
      await mkdir(folder, { recursive: true });
      await writeFile(path.join(folder, 'model.json'), modelJson);
      await writeFile(path.join(folder, 'weights.bin'), weights);
      out(`saved ${path.join(folder, 'model.json')} and weights.bin (tf.loadLayersModel('file://${path.resolve(folder, 'model.json')}'))`);
      return 0;
    }
    default:
      out('usage: trainyard submit <spec.json> [--follow] | jobs [--status S] | logs <id> | cancel <id> | download <id> [--out DIR]  [--url URL]');
      return command ? 2 : 0;
  }
}

main()
  .then((code) => process.exit(code))
  .catch((error: unknown) => {
    process.stderr.write(`trainyard: ${error instanceof TrainyardApiError || error instanceof Error ? error.message : String(error)}\n`);
    if (error instanceof TrainyardApiError && error.problem && 'errors' in error.problem && Array.isArray(error.problem.errors)) {
      for (const problem of error.problem.errors as { field: string; message: string }[]) process.stderr.write(`  ${problem.field}: ${problem.message}\n`);
    }
    if (error instanceof TrainyardApiError && error.status === 401) {
      process.stderr.write(`  set TRAINYARD_API_KEY to a key of your project (${process.env.TRAINYARD_API_KEY ? 'the one set was refused' : 'none is set'})\n`);
    }
    process.exit(1);
  });
