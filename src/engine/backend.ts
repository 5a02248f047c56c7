import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { BackendPreference } from '../config/config.js';
import { installNativeKernels, loadNativeAddon, nativeKernelCount, nativeKernelsInstalled, uninstallNativeKernels } from './backends/native-kernels.js';
import { activateWebgpu, type GpuAdapterDescription, type WebgpuOptions } from './backends/webgpu.js';
import { registerWasmConv2dGradient } from './backends/wasm-conv2d-gradient.js';
import { registerWasmUnsortedSegmentSum } from './backends/wasm-unsorted-segment-sum.js';

export interface SelectedBackend {
  name: 'tensorflow' | 'webgpu' | 'native' | 'wasm' | 'cpu';
  device: string;
  /** On webgpu: the adapter, to record on the job. */
  adapter?: GpuAdapterDescription;
  /** Why earlier candidates were skipped, for the start-up log. */
  skipped: string[];
}

const require = createRequire(import.meta.url);

type Candidate = SelectedBackend['name'];

const orderByPreference: Record<BackendPreference, Candidate[]> = {
  auto: ['tensorflow', 'webgpu', 'native', 'wasm', 'cpu'],
  tensorflow: ['tensorflow'],
  webgpu: ['webgpu'],
  native: ['native'],
  wasm: ['wasm'],
  cpu: ['cpu'],
};

/** Settings of particular backends: Dawn's backend and adapter for webgpu, kernel threads for native. */
export interface BackendOptions {
  webgpu: WebgpuOptions;
  blasThreads: number;
}

export const defaultBackendOptions: BackendOptions = { webgpu: { backend: 'vulkan' }, blasThreads: 1 };

/** What a process is configured to train on: TRAINYARD_BACKEND and the backends' settings. */
export interface BackendChoice {
  preference: BackendPreference;
  options: BackendOptions;
}

export function backendChoiceOf(config: {
  TRAINYARD_BACKEND: BackendPreference;
  WEBGPU_BACKEND: WebgpuOptions['backend'];
  WEBGPU_ADAPTER?: string | undefined;
  BLAS_THREADS: number;
}): BackendChoice {
  return {
    preference: config.TRAINYARD_BACKEND,
    options: {
      webgpu: { backend: config.WEBGPU_BACKEND, ...(config.WEBGPU_ADAPTER ? { adapter: config.WEBGPU_ADAPTER } : {}) },
      blasThreads: config.BLAS_THREADS,
    },
  };
}

/**
 * Picks the fastest backend this machine has: native TensorFlow (tfjs-node-gpu, then tfjs-node;
 * optional dependencies whose install fails offline), then WebGPU on a hardware adapter, then
 * wasm with the OpenBLAS kernels (`native`), then plain wasm, then plain JS. A named preference
 * that cannot be had is an error rather than a silent fallback.
 */
export async function selectBackend(preference: BackendPreference, options: Partial<BackendOptions> = {}): Promise<SelectedBackend> {
  const { webgpu, blasThreads } = { ...defaultBackendOptions, ...options };
  const skipped: string[] = [];
  for (const candidate of orderByPreference[preference]) {
    try {
      if (candidate === 'webgpu') {
        const { device, adapter } = await activateWebgpu(webgpu, preference === 'auto');
        return { name: candidate, device, adapter, skipped };
      }
      if (candidate === 'native') {
        return { name: candidate, device: await activateNativeKernels(blasThreads), skipped };
      }
      const device = await activate(candidate);
      return { name: candidate, device, skipped };
    } catch (error) {
      skipped.push(`${candidate}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`no TensorFlow.js backend could start (${skipped.join('; ')})`);
}

async function activate(candidate: Exclude<Candidate, 'webgpu' | 'native'>): Promise<string> {
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

/** The wasm backend with OpenBLAS kernels in place of some of its own (src/engine/backends/native-kernels.ts). */
async function activateNativeKernels(blasThreads: number): Promise<string> {
  const addon = loadNativeAddon();
  if (addon instanceof Error) throw addon;
  const wasm = await activateWasm({ keepNativeKernels: true });
  installNativeKernels(addon, blasThreads);
  const threads = addon.getThreads();
  return `CPU (${nativeKernelCount} native kernels on ${threads} thread${threads === 1 ? '' : 's'} with OpenBLAS, over ${wasm.replace(/^CPU \(|\)$/g, '')})`;
}

async function activateWasm({ keepNativeKernels = false } = {}): Promise<string> {
  // Plain wasm after native in one process: the stock kernels again.
  if (!keepNativeKernels && nativeKernelsInstalled()) uninstallNativeKernels();
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
