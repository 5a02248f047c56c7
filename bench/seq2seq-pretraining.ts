import { readFileSync } from 'node:fs';
import { selectBackend, type SelectedBackend } from '../src/engine/backend.js';
import { namedWeights, type CheckpointData } from '../src/engine/checkpoint-data.js';
import { runTraining } from '../src/engine/trainer.js';
import { describeDataset } from '../src/spec/dataset-spec.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../src/spec/job-spec.js';
import { planTransfer } from '../src/spec/transfer-plan.js';

/**
 * Issue 23's recipe (Ramachandran et al. 2017): pretrain the encoder and the decoder of
 * examples/seq2seq-reverse.json's model as language models on plentiful unpaired sources and
 * targets, start the seq2seq model from both, and compare with the same model from scratch when
 * labelled pairs are few. Same seeds, same pairs, same epochs on each side.
 */

export interface Seq2seqPretrainingRow {
  pairs: number;
  seed: number;
  start: 'pretrained LMs' | 'from scratch';
  /** Validation token accuracy (teacher-forced) after each epoch. */
  accuracies: number[];
}

type Layer = JobSpecInput['model']['layers'][number];
const example = JSON.parse(readFileSync(new URL('../examples/seq2seq-reverse.json', import.meta.url), 'utf8')) as JobSpecInput;
const ids = ['00000000-0000-7000-8000-00000000000a', '00000000-0000-7000-8000-00000000000b'] as const;
const CHECKPOINT = '00000000-0000-7000-8000-00000000000c';

async function train(input: JobSpecInput, backend: SelectedBackend, init?: { sources: CheckpointData[] }): Promise<{ accuracies: number[]; last: CheckpointData }> {
  const spec = jobSpecSchema.parse(input);
  let transfer;
  if (init) {
    const plan = planTransfer(
      spec,
      describeDataset(spec.dataset)!,
      init.sources.map((source, i) => ({ job: ids[i]!, checkpoint: CHECKPOINT, weights: Object.fromEntries(source.model.weightSpecs.map((w) => [w.name, w.shape])) })),
    );
    if ('problems' in plan) throw new Error(JSON.stringify(plan.problems));
    transfer = plan;
  }
  const accuracies: number[] = [];
  const checkpoints: CheckpointData[] = [];
  await runTraining(
    resolveJobSpec(spec, transfer ? { transfer } : {}),
    { emit: (event) => event.type === 'epochMetrics' && accuracies.push(event.values.val_accuracy!), checkpoint: (data) => checkpoints.push(data) },
    { backend, ...(init ? { initialWeights: init.sources.map(namedWeights) } : {}) },
  );
  return { accuracies, last: checkpoints.at(-1)! };
}

/** A language model over one side of the example: its embedding and positions, a causal block named as the seq2seq block, its classifier. */
function languageModel(side: 'encoder' | 'decoder', view: 'source' | 'target', rows: number, seed: number): JobSpecInput {
  const named = (name: string) => example.model.layers.find((layer) => layer.name === name)!;
  const layers: Layer[] = [
    { ...named(`${side}_tokens`), inputs: undefined } as Layer,
    named(`${side}_positions`),
    { type: 'transformerEncoder', name: `${side}_block`, numHeads: 4, ffDim: 64, causal: true },
    { type: 'dense', name: `${side}_classifier`, units: 11, activation: 'softmax' },
  ];
  return { ...example, dataset: { ...example.dataset, task: 'sort', view, rows, seed: 1000 + seed } as JobSpecInput['dataset'], model: { layers }, epochs: 3, seed };
}

export async function benchSeq2seqPretraining(options: { pairs: number[]; seeds: number[]; epochs: number; lmRows: number; backend: string }): Promise<Seq2seqPretrainingRow[]> {
  const backend = await selectBackend(options.backend as Parameters<typeof selectBackend>[0]);
  const rows: Seq2seqPretrainingRow[] = [];
  for (const seed of options.seeds) {
    // Unpaired data is plentiful: the language models see many more sequences than there are pairs.
    const encoder = await train(languageModel('encoder', 'source', options.lmRows, seed), backend);
    const decoder = await train(languageModel('decoder', 'target', options.lmRows, seed), backend);
    for (const pairs of options.pairs) {
      const task: JobSpecInput = {
        ...example,
        dataset: { ...example.dataset, task: 'sort', rows: pairs, seed } as JobSpecInput['dataset'],
        epochs: options.epochs,
        seed,
      };
      // The interleaving keeps machine load from favouring one side.
      const pretrained = await train({ ...task, init: { from: ids.map((job) => ({ job })) } }, backend, { sources: [encoder.last, decoder.last] });
      const scratch = await train(task, backend);
      rows.push({ pairs, seed, start: 'pretrained LMs', accuracies: pretrained.accuracies });
      rows.push({ pairs, seed, start: 'from scratch', accuracies: scratch.accuracies });
    }
  }
  return rows;
}
