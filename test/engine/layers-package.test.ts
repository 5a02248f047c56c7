import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import { buildModel } from '../../src/engine/model-builder.js';
import { resolveSpec } from '../support/training-run.js';

const root = path.resolve(import.meta.dirname, '../..');
const folder = mkdtempSync(path.join(tmpdir(), 'trainyard-layers-'));

beforeAll(async () => {
  await selectBackend('wasm');
});
afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('@trainyard/layers (packages/trainyard-layers)', () => {
  it('is what the sources build', () => {
    execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build-layers-package.ts', '--check'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  });

  it('lets plain Node with stock TF.js load a model with every attention-family layer and predict as the engine does', async () => {
    const spec = resolveSpec({
      dataset: { name: 'copy', symbols: 4, length: 3, delay: 2, inputs: 'tokens' },
      model: {
        layers: [
          { type: 'embedding', name: 'emb', inputDim: 6, outputDim: 8 },
          { type: 'positionalEmbedding', name: 'pos', mode: 'learned' },
          { type: 'layerNormalization', name: 'norm' },
          { type: 'transformerEncoder', name: 'enc', numHeads: 2, ffDim: 16 },
          { type: 'multiHeadAttention', name: 'mix', numHeads: 2, keyDim: 4, causal: true, inputs: ['pos', 'enc'] },
          { type: 'transformerDecoder', name: 'dec', numHeads: 2, ffDim: 16, inputs: ['mix', 'enc'] },
          { type: 'dense', units: 5 },
        ],
      },
    });
    const { model } = buildModel(spec, [8]);
    const tokens = [[1, 2, 3, 0, 0, 5, 0, 0], [4, 4, 1, 0, 0, 5, 0, 0]];
    const expected = tf.tidy(() => (model.predict(tf.tensor2d(tokens, undefined, 'int32')) as tf.Tensor).arraySync());
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        writeFileSync(path.join(folder, 'model.json'), JSON.stringify({ modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }] }));
        writeFileSync(path.join(folder, 'weights.bin'), Buffer.from(artifacts.weightData as ArrayBuffer));
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    model.dispose();
    // No tsx, nothing of the service: stock TF.js (cpu backend) and the built package only.
    const probe = `
      import * as tf from '@tensorflow/tfjs';
      import '${path.join(root, 'packages/trainyard-layers/index.js')}';
      import { readFileSync } from 'node:fs';
      const json = JSON.parse(readFileSync('${folder}/model.json', 'utf8'));
      const weights = readFileSync('${folder}/weights.bin');
      const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) }));
      const out = model.predict(tf.tensor2d(${JSON.stringify(tokens)}, undefined, 'int32'));
      process.stdout.write(JSON.stringify(out.arraySync()));`;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    const loaded = JSON.parse(output.slice(output.indexOf('[['))) as number[][][];
    expect(loaded).toHaveLength(2);
    loaded.flat(2).forEach((value, i) => expect(value).toBeCloseTo((expected as number[][][]).flat(2)[i]!, 4));
  });
});
