import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { WebgpuBackend } from '../../config/config.js';

export interface WebgpuOptions {
  backend: WebgpuBackend;
  /** Dawn's adapter name, when the machine has several. */
  adapter?: string;
}

/** The adapter a webgpu backend runs on, as recorded on the job. */
export interface GpuAdapterDescription {
  /** Dawn's backend: vulkan, opengl… */
  backend: string;
  name: string;
  vendor: string;
  architecture: string;
  /** A CPU rasterizer (llvmpipe, lavapipe, SwiftShader): works everywhere, not a GPU. */
  software: boolean;
  limits: Record<string, number>;
}

// Those of WebGPU's limits that decide what TF.js can run: buffer sizes and compute dispatch.
const recordedLimits = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

const softwareAdapter = /llvmpipe|lavapipe|softpipe|swiftshader/i;

// Dawn's instance must outlive every device made from it: once garbage-collected, its pending
// event processing runs on freed memory and the process dies (seen as a futex or mutex abort).
const liveInstances: DawnGpu[] = [];

interface DawnAdapter {
  info: { vendor: string; architecture: string; device: string; description: string; isFallbackAdapter?: boolean };
  limits: Record<string, number>;
}

interface DawnGpu {
  requestAdapter(options?: Record<string, unknown>): Promise<DawnAdapter | null>;
  wgslLanguageFeatures?: unknown;
}

interface WebgpuModule {
  create(flags: string[]): DawnGpu;
  globals: Record<string, unknown>;
}

/**
 * Starts TF.js's webgpu backend on Dawn (the `webgpu` package's dawn.node). Node has no
 * navigator.gpu; this one hands TF.js the adapter chosen here. `requireHardware` refuses a
 * software adapter: on `auto`, wasm beats WebGPU over llvmpipe.
 */
export async function activateWebgpu(options: WebgpuOptions, requireHardware: boolean): Promise<{ device: string; adapter: GpuAdapterDescription }> {
  // Mesa's EGL needs a platform without a display server; Dawn's OpenGL backends go through EGL.
  if (options.backend === 'opengl' || options.backend === 'opengles') process.env.EGL_PLATFORM ??= 'surfaceless';
  let webgpu: WebgpuModule;
  try {
    webgpu = (await import('webgpu')) as unknown as WebgpuModule;
  } catch (error) {
    throw new Error(`the webgpu package (Dawn) could not load: ${(error as Error).message.split('\n')[0]}`);
  }
  // Dawn prints a warning of its own on stderr when it cannot load the Vulkan loader: on a machine
  // without one (most CPU-only hosts) that would be a GPU warning at every start.
  if (options.backend === 'vulkan' && !hasVulkanLoader()) throw new Error('no Vulkan loader (libvulkan.so.1) on this machine; install libvulkan1 and a driver to use a GPU');
  Object.assign(globalThis, webgpu.globals);
  const gpu = webgpu.create([`backend=${options.backend}`, ...(options.adapter ? [`adapter=${options.adapter}`] : [])]);
  liveInstances.push(gpu);
  // OpenGL(ES) adapters exist only at WebGPU's compatibility feature level.
  const featureLevel = options.backend === 'opengl' || options.backend === 'opengles' ? 'compatibility' : 'core';
  const found = await gpu.requestAdapter({ featureLevel, powerPreference: 'high-performance' }).catch(() => null);
  if (!found) {
    const hint = options.backend === 'vulkan' ? ' (is a Vulkan driver and libvulkan1 installed? WEBGPU_BACKEND=opengl reaches Mesa llvmpipe)' : '';
    throw new Error(`Dawn found no ${options.backend} adapter${options.adapter ? ` named "${options.adapter}"` : ''}${hint}`);
  }
  const adapter = describeAdapter(options.backend, found);
  if (requireHardware && adapter.software) throw new Error(`only a software adapter (${adapter.name}); name webgpu to use it anyway`);

  // tfjs-backend-webgpu registers itself on import only if navigator.gpu exists, and asks it for the adapter.
  const navigatorGpu = { requestAdapter: async () => found, getPreferredCanvasFormat: () => 'rgba8unorm', wgslLanguageFeatures: gpu.wgslLanguageFeatures };
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: navigatorGpu }, configurable: true, writable: true });
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error(`the webgpu backend did not initialise on ${adapter.name}`);
  await tf.ready();
  const device = adapter.software
    ? `CPU (WebGPU through Dawn ${adapter.backend} on ${adapter.name}, a software adapter)`
    : `GPU (WebGPU through Dawn ${adapter.backend}: ${adapter.name})`;
  return { device, adapter };
}

/**
 * Whether the dynamic loader can find the Vulkan loader: it is in the linker cache or in a folder of
 * LD_LIBRARY_PATH. Linux only; elsewhere Dawn is left to find out.
 */
function hasVulkanLoader(): boolean {
  if (process.platform !== 'linux') return true;
  const library = 'libvulkan.so.1';
  const folders = (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  if (folders.some((folder) => existsSync(path.join(folder, library)))) return true;
  try {
    return readFileSync('/etc/ld.so.cache').includes(library);
  } catch {
    return ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib64', '/lib'].some((folder) => existsSync(path.join(folder, library)));
  }
}

function describeAdapter(backend: string, adapter: DawnAdapter): GpuAdapterDescription {
  const { info } = adapter;
  // Dawn's OpenGL backend puts the renderer (llvmpipe-llvm-15…) in `device` and only the GL version in `description`.
  const name = info.device || info.description || info.vendor || 'unnamed adapter';
  const limits: Record<string, number> = {};
  for (const key of recordedLimits) {
    const value = adapter.limits[key];
    if (typeof value === 'number') limits[key] = value;
  }
  return {
    backend,
    name,
    vendor: info.vendor,
    architecture: info.architecture,
    software: info.isFallbackAdapter === true || softwareAdapter.test(`${info.description} ${info.device} ${info.vendor}`),
    limits,
  };
}
