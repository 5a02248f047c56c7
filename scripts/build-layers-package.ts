import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';

/**
 * Builds packages/trainyard-layers/index.js: the engine's own layer classes (attention family,
 * layer normalization) as one ES module that imports only @tensorflow/tfjs, so an application
 * loads an exported model with stock tf.loadLayersModel after `import '@trainyard/layers'`.
 * `--check` fails when the committed file is not what the sources build (test/engine/layers-package.test.ts).
 */
const target = new URL('../packages/trainyard-layers/index.js', import.meta.url);
const result = await build({
  entryPoints: [new URL('../src/engine/layers/custom-layers.ts', import.meta.url).pathname],
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  external: ['@tensorflow/tfjs'],
  write: false,
  legalComments: 'none',
  banner: { js: '// Built by scripts/build-layers-package.ts from src/engine/layers/custom-layers.ts; do not edit.' },
});
const built = result.outputFiles[0]!.text;
if (process.argv.includes('--check')) {
  if (readFileSync(target, 'utf8') !== built) {
    console.error('packages/trainyard-layers/index.js is stale: npm run build:layers');
    process.exit(1);
  }
} else {
  writeFileSync(target, built);
  console.log(`wrote packages/trainyard-layers/index.js (${built.length} bytes)`);
}
