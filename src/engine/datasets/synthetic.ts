import { Mulberry32 } from '../random.js';
import { classificationDataset, type Dataset } from './dataset.js';

/**
 * Seeded synthetic classification sets, each a classic check of a technique: XOR and spirals are
 * not linearly separable (a hidden layer and good initialization matter), blobs are (optimizer and
 * schedule comparisons). The same parameters always give the same rows.
 */

export function gaussian(rng: Mulberry32): () => number {
  let spare: number | null = null;
  // Box–Muller: two uniforms give two independent standard normals.
  return () => {
    if (spare !== null) {
      const value = spare;
      spare = null;
      return value;
    }
    const u = Math.max(rng.next(), 1e-12);
    const v = rng.next();
    const radius = Math.sqrt(-2 * Math.log(u));
    spare = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  };
}

function dataset(name: string, features: Float32Array, labels: Int32Array, featureSize: number, classes: number): Dataset {
  return classificationDataset(name, features, featureSize, labels, classes);
}

/** Points uniform in [−1, 1]², class 1 where x·y > 0 (before the noise), coordinates + N(0, noise²). */
export function xor(rows: number, noise: number, seed: number): Dataset {
  const rng = new Mulberry32(seed);
  const normal = gaussian(rng);
  const features = new Float32Array(rows * 2);
  const labels = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const x = rng.next() * 2 - 1;
    const y = rng.next() * 2 - 1;
    labels[i] = x * y > 0 ? 1 : 0;
    features[2 * i] = x + noise * normal();
    features[2 * i + 1] = y + noise * normal();
  }
  return dataset('xor', features, labels, 2, 2);
}

/** `arms` interleaved spirals of two turns each: r = t, θ = 2πk/arms + 4πt, + N(0, noise²). */
export function spirals(rows: number, arms: number, noise: number, seed: number): Dataset {
  const rng = new Mulberry32(seed);
  const normal = gaussian(rng);
  const features = new Float32Array(rows * 2);
  const labels = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const arm = i % arms;
    const t = rng.next();
    const theta = (2 * Math.PI * arm) / arms + 4 * Math.PI * t;
    labels[i] = arm;
    features[2 * i] = t * Math.cos(theta) + noise * normal();
    features[2 * i + 1] = t * Math.sin(theta) + noise * normal();
  }
  return dataset('spirals', features, labels, 2, arms);
}

/** `classes` centres uniform in [−10, 10]^features, points N(centre, spread²), classes in turn. */
export function blobs(rows: number, classes: number, featureSize: number, spread: number, seed: number): Dataset {
  const rng = new Mulberry32(seed);
  const normal = gaussian(rng);
  const centres = Array.from({ length: classes }, () => Array.from({ length: featureSize }, () => rng.next() * 20 - 10));
  const features = new Float32Array(rows * featureSize);
  const labels = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const label = i % classes;
    labels[i] = label;
    for (let f = 0; f < featureSize; f++) features[i * featureSize + f] = centres[label]![f]! + spread * normal();
  }
  return dataset('blobs', features, labels, featureSize, classes);
}
