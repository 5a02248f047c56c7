/** `trainyard study …`: hyperparameter studies from the command line (docs/cli.md, docs/studies.md). */
import { readFile } from 'node:fs/promises';
import { describeStudyEvent, formatParams } from '../client/study-event-sentences.js';
import { formatNumber } from '../client/event-sentences.js';
import { shortIdLength, type Study, type StudySpecInput, type TrainyardClient, type Trial } from '../client/index.js';
import { limitOption, type CommandOptions } from './command-line.js';
import { printSubmitted } from './submitted-job.js';
import { fit } from './progress-display.js';
import { columns, out } from './terminal-output.js';
import { UsageError } from './usage-error.js';

export const studyUsage = `Studies (hyperparameter searches, docs/studies.md):
  study create <file.json|-> [--watch]   start a study (- reads stdin); --watch follows it
  study watch <id>                       its decisions and results, live, until it ends
  study list [--limit N]                 studies, newest first
  study show <id>                        status, best trial and the trials table
  study best <id> [--train [--epochs N]] the best trial and its spec; --train trains it anew
  study pause <id> | study resume <id> | study cancel <id>`;

const subcommands = ['create', 'watch', 'list', 'show', 'best', 'pause', 'resume', 'cancel'] as const;
type Subcommand = (typeof subcommands)[number];
const isSubcommand = (word: string | undefined): word is Subcommand => subcommands.includes(word as Subcommand);

/** A row no wider than the terminal; piped, whole (a script reads every parameter). */
const row = (line: string) => out(process.stdout.isTTY ? fit(line, columns() - 1) : line);

async function readSpec(file: string): Promise<StudySpecInput> {
  let text: string;
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    text = Buffer.concat(chunks).toString('utf8');
  } else {
    text = await readFile(file, 'utf8');
  }
  try {
    // The server checks the spec; a field it refuses comes back named.
    return JSON.parse(text) as StudySpecInput;
  } catch (error) {
    throw new Error(`${file === '-' ? 'stdin' : file} is not JSON: ${(error as Error).message}`);
  }
}

/** Prints the study's events as sentences until it ends: 0 when it succeeded, 1 when it failed or was cancelled. */
async function watch(client: TrainyardClient, study: Study): Promise<number> {
  const context = { metric: study.spec.objective.metric };
  let status: string = study.status;
  await client.watchStudy(study.id, (event) => {
    if (event.type === 'status') status = String(event.data.status);
    out(describeStudyEvent(event.type, event.data, context));
  });
  return status === 'succeeded' ? 0 : 1;
}

const lastValue = (trial: Trial) => trial.results.at(-1)?.value;
const bestLine = (study: Study) => {
  if (!study.best) return 'none yet';
  return `trial ${study.best.trial}, ${study.spec.objective.metric} ${formatNumber(study.best.value)} at epoch ${study.best.epoch}`;
};

function list(studies: Study[]): void {
  const idLength = shortIdLength(studies.map((study) => study.id));
  for (const study of studies) {
    const best = study.best ? `${study.spec.objective.metric} ${formatNumber(study.best.value)}` : '-';
    row(`${study.id.slice(0, idLength)}  ${study.status.padEnd(9)}  ${String(study.trials.length).padStart(3)} trials  ${best.padEnd(20)}  ${study.name ?? ''}`.trimEnd());
  }
}

function show(study: Study): void {
  const { spec, compute } = study;
  // What stopping trials early saved, against training every trial to maxEpochs.
  const share = compute.fullTrainingEpochs > 0 ? `, ${Math.round((100 * compute.trialEpochs) / compute.fullTrainingEpochs)}% of the ${compute.fullTrainingEpochs} that training every trial to the end takes` : '';
  out(`study ${study.id}${study.name ? `  ${study.name}` : ''}`);
  out(`status     ${study.status}${study.reason ? `: ${study.reason}` : ''}`);
  out(`search     ${spec.algorithm.type}, ${spec.objective.metric} (${spec.objective.mode}), ${spec.maxTrials} trials at most, ${spec.maxConcurrentTrials} at once, ${spec.maxEpochs} epochs each`);
  out(`best       ${bestLine(study)}`);
  out(`compute    ${compute.trialEpochs} trial-epochs in ${formatNumber(compute.trialSeconds)} s${share}`);
  if (study.finalJobId) out(`trained    job ${study.finalJobId}`);
  if (study.trials.length === 0) return;
  const metric = spec.objective.metric;
  const idLength = shortIdLength(study.trials.map((trial) => trial.jobId));
  out('');
  row(`${'#'.padStart(3)}  ${'state'.padEnd(9)}  ${'job'.padEnd(idLength)}  epochs  ${metric.padEnd(12)}  params`);
  for (const trial of study.trials) {
    const value = lastValue(trial);
    row(
      `${String(trial.number).padStart(3)}  ${trial.state.padEnd(9)}  ${trial.jobId.slice(0, idLength)}  ${String(trial.epochsTrained).padStart(6)}  ${(value === undefined ? '-' : formatNumber(value)).padEnd(12)}  ${formatParams(trial.params)}`,
    );
  }
}

/** The best trial, its values and its job's spec; with --train, that spec trained to the end as a new job. */
async function best(client: TrainyardClient, id: string, train: { epochs?: number } | null): Promise<number> {
  const study = await client.study(id);
  if (!study.best) throw new Error(`study ${id} has no trial with a result yet`);
  const trial = study.trials.find((candidate) => candidate.number === study.best!.trial);
  const job = await client.job(study.best.jobId);
  out(`best: ${bestLine(study)}`);
  out(`job: ${study.best.jobId}`);
  out(`params: ${trial ? formatParams(trial.params) : '-'}`);
  out('spec:');
  out(JSON.stringify(job.spec, null, 2));
  if (train) printSubmitted(await client.trainBest(id, train));
  return 0;
}

/** What `study best` trains, from --train and --epochs; null without --train. */
function trainOptions(values: CommandOptions): { epochs?: number } | null {
  const epochs = values.epochs === undefined ? undefined : Number(values.epochs);
  if (epochs !== undefined && !values.train) throw new UsageError('--epochs goes with --train: trainyard study best <id> --train --epochs N');
  if (epochs !== undefined && (!Number.isInteger(epochs) || epochs < 1 || epochs > 10_000)) throw new UsageError('--epochs must be a whole number from 1 to 10000');
  if (!values.train) return null;
  return epochs === undefined ? {} : { epochs };
}

/** Runs `trainyard study <subcommand> [id|file]`; the exit status. */
export async function studyCommand(client: TrainyardClient, baseUrl: string, args: string[], values: CommandOptions): Promise<number> {
  const [subcommand, argument] = args;
  if (!isSubcommand(subcommand)) {
    throw new UsageError(subcommand ? `unknown study command "${subcommand}" (${subcommands.join(', ')})` : `study needs a command: ${subcommands.join(', ')}`);
  }
  const studyId = async () => {
    if (!argument) throw new UsageError(`study ${subcommand} needs a study id`);
    return client.resolveStudyId(argument);
  };
  switch (subcommand) {
    case 'create': {
      if (!argument) throw new UsageError('study create needs a study spec: trainyard study create study.json (or - for stdin)');
      const study = await client.createStudy(await readSpec(argument));
      out(`study ${study.id} ${study.status}`);
      out(`${baseUrl.replace(/\/$/, '')}/#/studies/${study.id}`);
      return values.watch ? watch(client, study) : 0;
    }
    case 'watch':
      return watch(client, await client.study(await studyId()));
    case 'list':
      list((await client.studies({ limit: limitOption(values, 20, 100) })).data);
      return 0;
    case 'show':
      show(await client.study(await studyId()));
      return 0;
    case 'best': {
      const train = trainOptions(values);
      return best(client, await studyId(), train);
    }
    case 'pause':
    case 'resume':
    case 'cancel': {
      const id = await studyId();
      const study = subcommand === 'pause' ? await client.pauseStudy(id) : subcommand === 'resume' ? await client.resumeStudy(id) : await client.cancelStudy(id);
      out(`study ${id} ${study.status}`);
      return 0;
    }
  }
}
