import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { BackendPreference } from '../config/config.js';
import { registerWasmConv2dGradient } from './backends/wasm-conv2d-gradient.js';

export interface SelectedBackend {
  name: 'tensorflow' | 'wasm' | 'cpu';
  device: string;
  /** Why earlier candidates were skipped, for the start-up log. */
  skipped: string[];
}

const require = createRequire(import.meta.url);

type Candidate = SelectedBackend['name'];

const orderByPreference: Record<BackendPreference, Candidate[]> = {
  auto: ['tensorflow', 'wasm', 'cpu'],
  tensorflow: ['tensorflow'],
  wasm: ['wasm'],
  cpu: ['cpu'],
};

/**
 * Picks the fastest backend this machine has: native TensorFlow (tfjs-node-gpu, then tfjs-node;
 * optional dependencies whose install fails offline), then wasm, then plain JS. A named
 * preference that cannot be had is an error rather than a silent fallback.
 */
export async function selectBackend(preference: BackendPreference): Promise<SelectedBackend> {
  const skipped: string[] = [];
  for (const candidate of orderByPreference[preference]) {
    try {
      const device = await activate(candidate);
      return { name: candidate, device, skipped };
    } catch (error) {
      skipped.push(`${candidate}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`no TensorFlow.js backend could start (${skipped.join('; ')})`);
}

async function activate(candidate: Candidate): Promise<string> {
  switch (candidate) {
    case 'tensorflow':
      return activateNative();
    case 'wasm':
      return activateWasm();
    case 'cpu':
      if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend did not initialise');
      await tf.ready();
      return 'CPU (JavaScript kernels)';
  }
}

async function activateNative(): Promise<string> {
  let gpu = true;
  try {
    await import('@tensorflow/tfjs-node-gpu' as string);
  } catch (gpuError) {
    gpu = false;
    try {
      await import('@tensorflow/tfjs-node' as string);
    } catch (cpuError) {
      throw new Error(
        `neither @tensorflow/tfjs-node-gpu (${(gpuError as Error).message.split('\n')[0]}) nor @tensorflow/tfjs-node (${(cpuError as Error).message.split('\n')[0]}) is installed`,
      );
    }
  }
  if (!(await tf.setBackend('tensorflow'))) throw new Error('the tensorflow backend did not initialise');
  await tf.ready();
  return gpu ? 'GPU (CUDA through libtensorflow, tfjs-node-gpu)' : 'CPU (libtensorflow, tfjs-node)';
}

async function activateWasm(): Promise<string> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const distDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  wasm.setWasmPaths(`${distDir}${path.sep}`);
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not initialise');
  await tf.ready();
  registerWasmConv2dGradient();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return `CPU (WebAssembly${simd ? ' SIMD' : ''}, 1 thread)`;
}
