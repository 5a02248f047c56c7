import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// The engine's layer and training tests, run a second time on the native backend (OpenBLAS kernels).
const layerAndTrainingTests = [
  'augmentation',
  'auxiliary-heads',
  'batch-norm-gradient',
  'cnn',
  'divergence',
  'early-stopping',
  'graph-models',
  'attention-layers',
  'initialization',
  'losses',
  'mc-dropout',
  'normalization',
  'objective',
  'progressive',
  'pytorch-reference',
  'recurrent-layers',
  'recurrent-training',
  'seq2seq',
  'resume',
  'trainer-optimization',
  'trainer',
  'transfer',
].map((name) => `test/engine/${name}.test.ts`);

const shared = {
  pool: 'forks' as const,
  // Two cores: training tests are CPU-bound, more parallel files only slow each other down.
  maxWorkers: 2,
  // Each worker keeps its modules from one file to the next: re-importing TF.js, Prisma and the
  // app in a fresh process per file was a third of the suite's time. Test files therefore restore
  // what they change (process.env, the TF.js backend) and pass under `--shuffle`.
  isolate: false,
  testTimeout: 60_000,
  hookTimeout: 120_000,
};

export default defineConfig({
  test: {
    projects: [
      { test: { ...shared, name: 'all', include: ['test/**/*.test.ts'], globalSetup: ['test/support/global-setup.ts'] } },
      // Needs the addon (npm install builds it where libopenblas-dev is installed; .ci/run installs that). A
      // machine without it skips this project outside CI; test/engine/native-kernels.test.ts says what is missing.
      ...(existsSync('native/build/Release/trainyard_native.node') || process.env.CI
        ? [{ test: { ...shared, name: 'native', include: layerAndTrainingTests, env: { TRAINYARD_TEST_BACKEND: 'native' } } }]
        : []),
    ],
  },
});
