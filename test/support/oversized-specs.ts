import type { JobSpecInput } from '../../src/spec/job-spec.js';

/**
 * Specs every field of which is valid but which no training process can hold (issue 19): each
 * was accepted with a 201 and then took the machine's memory. With the field that must name them.
 */
export const oversizedSpecs: { name: string; spec: JobSpecInput; field: string }[] = [
  {
    name: 'two dense layers of 65 536 units',
    spec: {
      dataset: { name: 'mnist' },
      model: { layers: [{ type: 'dense', units: 65_536, activation: 'relu' }, { type: 'dense', units: 65_536, activation: 'relu' }, { type: 'dense', units: 10 }] },
    },
    // Its 65 536 × 65 536 kernel: 4.3 billion weights.
    field: 'model.layers[1].units',
  },
  {
    name: '64 training threads',
    spec: {
      dataset: { name: 'iris' },
      model: { layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 3 }] },
      distributed: { strategy: 'sync', workers: 64 },
    },
    field: 'distributed.workers',
  },
  {
    name: 'an LSTM of 4 096 units over 10 000 steps',
    // 500 rows × 20 000 values: within the data set limit of 10 million values.
    spec: { dataset: { name: 'adding', rows: 500, length: 10_000 }, model: { layers: [{ type: 'lstm', units: 4096 }, { type: 'dense', units: 1 }] } },
    field: 'model.layers[0].units',
  },
  {
    name: 'an embedding of 10⁶ × 4 096',
    spec: {
      dataset: { name: 'copy', inputs: 'tokens' },
      model: { layers: [{ type: 'embedding', inputDim: 1_000_000, outputDim: 4096 }, { type: 'gru', units: 16, returnSequences: true }, { type: 'dense', units: 9 }] },
    },
    field: 'model.layers[0].inputDim',
  },
  {
    name: 'one-hot labels of ~40 GB',
    // 800 rows × 12 000 steps × 1 001 classes as float32 = 38 GB of one-hot targets.
    spec: {
      dataset: { name: 'copy', rows: 800, symbols: 1000, length: 1000, delay: 10_000, inputs: 'tokens' },
      model: { layers: [{ type: 'embedding', inputDim: 1002, outputDim: 8 }, { type: 'gru', units: 8, returnSequences: true }, { type: 'dense', units: 1001 }] },
      loss: 'categoricalCrossentropy',
    },
    field: 'loss',
  },
];
