import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { BackendPreference } from '../config/config.js';
import { activateWebgpu, type GpuAdapterDescription, type WebgpuOptions } from './backends/webgpu.js';
import { registerWasmConv2dGradient } from './backends/wasm-conv2d-gradient.js';
import { registerWasmUnsortedSegmentSum } from './backends/wasm-unsorted-segment-sum.js';

export interface SelectedBackend {
  name: 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
  device: string;
  /** On webgpu: the adapter, to record on the job. */
  adapter?: GpuAdapterDescription;
  /** Why earlier candidates were skipped, for the start-up log. */
  skipped: string[];
}

const require = createRequire(import.meta.url);

type Candidate = SelectedBackend['name'];

const orderByPreference: Record<BackendPreference, Candidate[]> = {
  auto: ['tensorflow', 'webgpu', 'wasm', 'cpu'],
  tensorflow: ['tensorflow'],
  webgpu: ['webgpu'],
  wasm: ['wasm'],
  cpu: ['cpu'],
};

export const defaultWebgpuOptions: WebgpuOptions = { backend: 'vulkan' };

/** What a process is configured to train on: TRAINYARD_BACKEND, and for webgpu Dawn's backend and adapter. */
export interface BackendChoice {
  preference: BackendPreference;
  webgpu: WebgpuOptions;
}

export function backendChoiceOf(config: { TRAINYARD_BACKEND: BackendPreference; WEBGPU_BACKEND: WebgpuOptions['backend']; WEBGPU_ADAPTER?: string | undefined }): BackendChoice {
  return {
    preference: config.TRAINYARD_BACKEND,
    webgpu: { backend: config.WEBGPU_BACKEND, ...(config.WEBGPU_ADAPTER ? { adapter: config.WEBGPU_ADAPTER } : {}) },
  };
}

/**
 * Picks the fastest backend this machine has: native TensorFlow (tfjs-node-gpu, then tfjs-node;
 * optional dependencies whose install fails offline), then WebGPU on a hardware adapter, then
 * wasm, then plain JS. A named preference that cannot be had is an error rather than a silent
 * fallback.
 */
export async function selectBackend(preference: BackendPreference, webgpu: WebgpuOptions = defaultWebgpuOptions): Promise<SelectedBackend> {
  const skipped: string[] = [];
  for (const candidate of orderByPreference[preference]) {
    try {
      if (candidate === 'webgpu') {
        const { device, adapter } = await activateWebgpu(webgpu, preference === 'auto');
        return { name: candidate, device, adapter, skipped };
      }
      const device = await activate(candidate);
      return { name: candidate, device, skipped };
    } catch (error) {
      skipped.push(`${candidate}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`no TensorFlow.js backend could start (${skipped.join('; ')})`);
}

async function activate(candidate: Exclude<Candidate, 'webgpu'>): Promise<string> {
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

const nativePackages = [
  { name: '@tensorflow/tfjs-node-gpu', device: 'GPU (CUDA through libtensorflow, tfjs-node-gpu)' },
  { name: '@tensorflow/tfjs-node', device: 'CPU (libtensorflow, tfjs-node)' },
] as const;

/**
 * Why a tfjs-node package cannot be used, or null when it can. Checked before importing: a
 * package installed without its native addon (install script skipped or failed offline) still
 * registers all its kernels on import before it throws, which pollutes the kernel registry.
 */
function nativePackageProblem(name: string): string | null {
  let packageDir: string;
  try {
    packageDir = path.dirname(require.resolve(`${name}/package.json`));
  } catch {
    return `${name} is not installed`;
  }
  const libDir = path.join(packageDir, 'lib');
  const hasAddon = existsSync(libDir) && readdirSync(libDir).some((entry) => existsSync(path.join(libDir, entry, 'tfjs_binding.node')));
  return hasAddon ? null : `${name} is installed without its native addon (its install script could not download libtensorflow)`;
}

async function activateNative(): Promise<string> {
  const problems: string[] = [];
  for (const candidate of nativePackages) {
    const problem = nativePackageProblem(candidate.name);
    if (problem) {
      problems.push(problem);
      continue;
    }
    await import(candidate.name);
    if (!(await tf.setBackend('tensorflow'))) throw new Error('the tensorflow backend did not initialise');
    await tf.ready();
    return candidate.device;
  }
  throw new Error(problems.join('; '));
}

async function activateWasm(): Promise<string> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const distDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  wasm.setWasmPaths(`${distDir}${path.sep}`);
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not initialise');
  await tf.ready();
  registerWasmConv2dGradient();
  registerWasmUnsortedSegmentSum();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return `CPU (WebAssembly${simd ? ' SIMD' : ''}, 1 thread)`;
}
