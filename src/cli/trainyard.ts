/**
 * trainyard: the command line on the typed client (see `usage` below, or `trainyard --help`).
 * The API is --url, else TRAINYARD_URL, else http://localhost:3000; the key is TRAINYARD_API_KEY
 * (an option would leave it in the shell history and the process list).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describeEvent } from '../client/event-sentences.js';
import { TrainyardApiError, TrainyardClient, shortIdLength, type Job, type JobStatus, type StreamEventMessage } from '../client/index.js';
import { limitOption, parseCommandLine } from './command-line.js';
import { advance, epochLine, fit, initialProgress, progressLine } from './progress-display.js';
import { studyCommand, studyUsage } from './study-commands.js';
import { printSubmitted } from './submitted-job.js';
import { uploadCommand, uploadUsage } from './upload-command.js';
import { columns, out } from './terminal-output.js';
import { UsageError } from './usage-error.js';

const usage = `Usage: trainyard <command> [options]

Commands:
  submit <spec.json> [--follow]   queue a job; --follow shows its progress until it ends
  follow <id>                     show a job's progress until it ends
  jobs [--status S] [--limit N]   list jobs, newest first (S: e.g. running or queued,paused)
  logs <id>                       the job's events, in order
  cancel <id> | pause <id> | resume <id>
  download <id> [--out DIR]       the final model (model.json + weights.bin, and preprocessing.json if fitted)
${uploadUsage}

${studyUsage}

An <id> may be any unique start of a job's or study's id, as \`trainyard jobs\` and
\`trainyard study list\` show it.

Options:
  --url URL     the API (default: TRAINYARD_URL, else http://localhost:3000)
  -h, --help    this help

Environment:
  TRAINYARD_API_KEY   your project's API key (ty_…)`;

/** Shows a job's stream until it ends: a bar redrawn in place on a terminal, one line per epoch. */
async function follow(client: TrainyardClient, job: Job): Promise<number> {
  let status: JobStatus = job.status;
  let state = initialProgress(job.spec.epochs);
  const live = process.stdout.isTTY === true;
  let barShown = false;
  const clearBar = () => {
    if (barShown) process.stdout.write('\r\x1b[K');
    barShown = false;
  };
  const drawBar = () => {
    if (!live) return;
    process.stdout.write(`\r\x1b[K${progressLine(state, columns() - 1)}`);
    barShown = true;
  };
  await client.follow(job.id, (event: StreamEventMessage) => {
    state = advance(state, event);
    const data = event.data as Record<string, unknown>;
    if (event.type === 'metrics' && data.scope === 'epoch') {
      clearBar();
      const extras = { durationMs: data.durationMs as number | undefined, samplesPerSecond: data.samplesPerSecond as number | undefined };
      out(epochLine(state.epoch, state.epochs, data.values as Record<string, number>, extras, columns() - 1));
      drawBar();
    } else if (event.type === 'metrics') {
      drawBar();
    } else if (event.type === 'status' || event.type === 'earlyStop' || event.type === 'divergence' || event.type === 'resumed') {
      if (event.type === 'status') status = data.status as JobStatus;
      clearBar();
      out(fit(describeEvent(event.type, data), columns() - 1));
      if (event.type !== 'status' || status === 'running') drawBar();
    }
  });
  clearBar();
  return status === 'succeeded' ? 0 : 1;
}

function listJobs(jobs: Job[]): void {
  const width = columns();
  const idLength = shortIdLength(jobs.map((job) => job.id));
  for (const job of jobs) {
    const line = `${job.id.slice(0, idLength)}  ${job.status.padEnd(10)}  ${String(Math.round(job.progress * 100)).padStart(3)}%  ${job.name ?? ''}`;
    out(line.length <= width ? line.trimEnd() : `${line.slice(0, width - 1)}…`);
  }
}

async function main(): Promise<number> {
  const { values, positionals } = parseCommandLine();
  const [command, argument] = positionals;
  if (values.help || command === 'help') {
    out(usage);
    return 0;
  }
  if (!command) {
    out(usage);
    return 0;
  }
  const baseUrl = values.url ?? process.env.TRAINYARD_URL ?? 'http://localhost:3000';
  const client = new TrainyardClient(baseUrl, { apiKey: process.env.TRAINYARD_API_KEY });
  const jobId = async () => {
    if (!argument) throw new UsageError(`${command} needs a job id`);
    return client.resolveJobId(argument);
  };
  switch (command) {
    case 'submit': {
      if (!argument) throw new UsageError('submit needs a spec file: trainyard submit spec.json');
      const job = await client.submit(JSON.parse(await readFile(argument, 'utf8')));
      printSubmitted(job);
      return values.follow ? follow(client, job) : 0;
    }
    case 'follow':
      return follow(client, await client.job(await jobId()));
    case 'jobs': {
      const limit = limitOption(values, 50, 200);
      listJobs((await client.jobs({ limit, ...(values.status ? { status: values.status } : {}) })).data);
      return 0;
    }
    case 'logs': {
      for (const event of await client.events(await jobId())) out(`${String(event.seq).padStart(4)}  ${event.createdAt.slice(11, 19)}  ${describeEvent(event.type, event.data)}`);
      return 0;
    }
    case 'cancel':
    case 'pause':
    case 'resume': {
      const id = await jobId();
      out(`job ${id} ${(await client[command](id)).status}`);
      return 0;
    }
    case 'download': {
      const id = await jobId();
      const folder = values.out ?? `model-${id}`;
      const { modelJson, weights, preprocessing } = await client.model(id);
      await mkdir(folder, { recursive: true });
      await writeFile(path.join(folder, 'model.json'), modelJson);
      await writeFile(path.join(folder, 'weights.bin'), weights);
      // Raw inputs need it first: without it a text model's ids or a scaled model's inputs cannot be made.
      if (preprocessing) await writeFile(path.join(folder, 'preprocessing.json'), preprocessing);
      out(
        `saved ${path.join(folder, 'model.json')}, weights.bin${preprocessing ? ' and preprocessing.json (apply it to raw inputs first)' : ''} ` +
          `(tf.loadLayersModel('file://${path.resolve(folder, 'model.json')}'))`,
      );
      return 0;
    }
    case 'upload':
      return uploadCommand(client, argument, values);
    case 'study':
      return studyCommand(client, baseUrl, positionals.slice(1), values);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** One message per failure: the problem's title and its fields, or the error's own message. */
function report(error: unknown): number {
  const write = (line: string) => process.stderr.write(`${line}\n`);
  if (error instanceof UsageError) {
    write(`trainyard: ${error.message}`);
    write('Run trainyard --help for the commands and options.');
    return 2;
  }
  if (error instanceof TrainyardApiError) {
    const problem = error.problem;
    const fields = problem?.errors ?? [];
    if (problem && fields.length > 0) {
      write(`trainyard: ${problem.title} (${error.status})`);
      for (const field of fields) write(`  ${field.field}: ${field.message}`);
      if (problem.errorCount !== undefined && problem.errorCount > fields.length) write(`  … and ${problem.errorCount - fields.length} more`);
    } else {
      write(`trainyard: ${problem ? problem.detail : `HTTP ${error.status}`}`);
    }
    if (error.status === 401) write(`  set TRAINYARD_API_KEY to a key of your project (${process.env.TRAINYARD_API_KEY ? 'the one set was refused' : 'none is set'})`);
    return 1;
  }
  const cause = (error as { cause?: { code?: string } }).cause;
  if (error instanceof TypeError && cause?.code === 'ECONNREFUSED') {
    write(`trainyard: nothing answers at the API's address (${cause.code}): is the server running? (--url, TRAINYARD_URL)`);
    return 1;
  }
  write(`trainyard: ${error instanceof Error ? error.message : String(error)}`);
  return 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => process.exit(report(error)),
);
