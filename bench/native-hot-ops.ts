// The Transformer and depthwise-convolution hot ops on the native backend against the stock kernels:
//   node --import tsx bench/native-hot-ops.ts [repeats]
// Each row times one op (forward, or forward and backward) on each variant in turn, round after
// round (interleaved: these VMs drift ±20–30 %), and prints the median ms per call and the speed-up
// over the stock wasm kernels. tfjs-backend-wasm has no depthwise gradient kernels: those rows are
// against TF.js's cpu backend, the only stock kernels there are.
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/engine/backend.js';
import { installNativeKernels, loadNativeAddon, uninstallNativeKernels } from '../src/engine/backends/native-kernels.js';
import { SOFTMAX_GRAD_KERNEL } from '../src/engine/backends/native-softmax-grad.js';
import { layerNorm } from '../src/engine/layers/layer-normalization.js';

const repeats = Math.max(7, Number(process.argv[2] ?? 7));
const addon = loadNativeAddon();
if (addon instanceof Error) throw addon;
await selectBackend('native');

type Variant = 'wasm' | 'native' | 'native, composed' | 'cpu';
interface Case {
  name: string;
  /** Builds the inputs on the current backend and returns the op to time. */
  setup: () => () => tf.Tensor | tf.Tensor[];
  variants: Variant[];
}

const random = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);
const grads = (f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[]) => {
  const weights = tf.tidy(() => random(f(...xs).shape, 99));
  return () => tf.grads((...vs: tf.Tensor[]) => f(...vs).mul(weights).sum())(xs);
};

// Attention of a small transformer: batch 8, 4 heads, 64 steps, model width 128 (dk 32).
const [B, H, T, D] = [8, 4, 64, 128];
const dk = D / H;
const cases: Case[] = [
  { name: `scores q kᵀ [${B * H}, ${T}, ${dk}] × ᵀ, fwd`, setup: () => { const [q, k] = [random([B * H, T, dk], 1), random([B * H, T, dk], 2)]; return () => tf.matMul(q, k, false, true); }, variants: ['wasm', 'native'] },
  { name: 'scores q kᵀ, fwd + both grads', setup: () => grads((q, k) => tf.matMul(q!, k!, false, true), [random([B * H, T, dk], 1), random([B * H, T, dk], 2)]), variants: ['wasm', 'native'] },
  { name: `weights × v [${B * H}, ${T}, ${T}] × [.., ${T}, ${dk}], fwd + grads`, setup: () => grads((p, v) => tf.matMul(p!, v!), [random([B * H, T, T], 3), random([B * H, T, dk], 4)]), variants: ['wasm', 'native'] },
  { name: `projection [${B}, ${T}, ${D}] × [${D}, ${D}] (ranks differ), fwd`, setup: () => { const [x, w] = [random([B, T, D], 5), random([D, D], 6)]; return () => tf.matMul(x, w); }, variants: ['wasm', 'native'] },
  { name: 'projection [B, T, d] × [d, d], fwd + grads', setup: () => grads((x, w) => tf.matMul(x!, w!), [random([B, T, D], 5), random([D, D], 6)]), variants: ['native'] },
  { name: `softmax [${B * H}, ${T}, ${T}], fwd`, setup: () => { const x = random([B * H, T, T], 7); return () => tf.softmax(x); }, variants: ['wasm', 'native'] },
  { name: 'softmax, fwd + grad', setup: () => grads((x) => tf.softmax(x!), [random([B * H, T, T], 7)]), variants: ['wasm', 'native, composed', 'native'] },
  { name: `Mul [.., ${T}, 1] × [.., ${T}, ${T}] (in softmax's grad)`, setup: () => { const [s, y] = [random([B * H, T, 1], 8), random([B * H, T, T], 9)]; return () => tf.mul(s, y); }, variants: ['wasm', 'native'] },
  { name: `layer norm [${B}, ${T}, ${D}], fwd`, setup: () => { const [x, g, b] = [random([B, T, D], 10), random([D], 11), random([D], 12)]; return () => layerNorm(x, g, b, 1e-3); }, variants: ['wasm', 'native, composed', 'native'] },
  { name: 'layer norm, fwd + grads of x, γ, β', setup: () => grads((x, g, b) => layerNorm(x!, g!, b!, 1e-3), [random([B, T, D], 10), random([D], 11), random([D], 12)]), variants: ['wasm', 'native, composed', 'native'] },
  { name: 'depthwise 3×3 [16, 56, 56, 32] s1 same, fwd', setup: () => { const [x, f] = [random([16, 56, 56, 32], 13) as tf.Tensor4D, random([3, 3, 32, 1], 14) as tf.Tensor4D]; return () => tf.depthwiseConv2d(x, f, 1, 'same'); }, variants: ['wasm', 'native'] },
  { name: 'depthwise 3×3 [16, 56, 56, 32] s2 same, fwd', setup: () => { const [x, f] = [random([16, 56, 56, 32], 13) as tf.Tensor4D, random([3, 3, 32, 1], 14) as tf.Tensor4D]; return () => tf.depthwiseConv2d(x, f, 2, 'same'); }, variants: ['wasm', 'native'] },
  { name: 'depthwise 3×3 [16, 28, 28, 16] ×2 valid, fwd', setup: () => { const [x, f] = [random([16, 28, 28, 16], 15) as tf.Tensor4D, random([3, 3, 16, 2], 16) as tf.Tensor4D]; return () => tf.depthwiseConv2d(x, f, 1, 'valid'); }, variants: ['wasm', 'native'] },
  { name: 'depthwise 3×3 [16, 56, 56, 32] s1, fwd + both grads', setup: () => grads((x, f) => tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'same'), [random([16, 56, 56, 32], 13), random([3, 3, 32, 1], 14)]), variants: ['cpu', 'native'] },
  { name: 'depthwise 3×3 [16, 28, 28, 16] ×2 s2, fwd + both grads', setup: () => grads((x, f) => tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, 2, 'same'), [random([16, 28, 28, 16], 15), random([3, 3, 16, 2], 16)]), variants: ['cpu', 'native'] },
];

/** Puts the backend in the variant's state: stock wasm kernels, native ones, native without the fused kernels, or cpu. */
async function enter(variant: Variant): Promise<() => Promise<void>> {
  if (variant === 'cpu') {
    await tf.setBackend('cpu');
    return async () => void (await tf.setBackend('wasm'));
  }
  if (variant === 'wasm') {
    uninstallNativeKernels();
    return async () => installNativeKernels(addon as Exclude<typeof addon, Error>, 1);
  }
  if (variant === 'native, composed') {
    // The same native backend with its own fused kernels (layer norm, softmax's gradient) out of the way.
    const own = ['TrainyardLayerNorm', 'TrainyardLayerNormGrad', SOFTMAX_GRAD_KERNEL].map((name) => tf.getKernel(name, 'wasm')!);
    own.forEach((config) => tf.unregisterKernel(config.kernelName, 'wasm'));
    return async () => own.forEach((config) => tf.registerKernel(config));
  }
  return async () => {};
}

/** ms per call: enough calls for about 150 ms, after two to warm up. */
async function time(kase: Case, variant: Variant): Promise<number> {
  const leave = await enter(variant);
  try {
    return tf.tidy(() => {
      const op = kase.setup();
      const once = () => tf.dispose(op());
      once();
      once();
      let calls = 0;
      const start = performance.now();
      while (performance.now() - start < 150 || calls < 3) {
        once();
        calls++;
      }
      return (performance.now() - start) / calls;
    });
  } finally {
    await leave();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const rows: Record<string, string | number>[] = [];
for (const kase of cases) {
  const samples = new Map<Variant, number[]>(kase.variants.map((v) => [v, []]));
  for (let round = 0; round < repeats; round++) {
    for (const variant of kase.variants) samples.get(variant)!.push(await time(kase, variant));
  }
  const ms = Object.fromEntries(kase.variants.map((v) => [v, median(samples.get(v)!)]));
  const base = ms.wasm ?? ms.cpu;
  rows.push({
    op: kase.name,
    ...Object.fromEntries(Object.entries(ms).map(([v, value]) => [`${v} ms`, +value.toFixed(3)])),
    ...(base !== undefined && ms['native, composed'] !== undefined ? { 'composed ×': +(base / ms['native, composed']).toFixed(2) } : {}),
    ...(base !== undefined ? { [`native × (vs ${ms.wasm !== undefined ? 'wasm' : 'cpu'})`]: +(base / ms.native!).toFixed(2) } : {}),
  });
  console.error(`${kase.name}: done`);
}
console.table(rows);
console.log(`median of ${repeats} interleaved rounds; OpenBLAS 1 thread; ${new Date().toISOString()}`);
