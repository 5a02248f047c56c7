/**
 * Seeded randomness for everything the engine shuffles, so the same seed and spec give the same
 * run. mulberry32: tiny, fast, its whole state one integer (so a checkpoint can hold it), and good
 * enough for permutations (not for cryptography).
 */
export type Rng = () => number;

export class Mulberry32 {
  private current: number;

  constructor(seed: number) {
    this.current = seed >>> 0;
  }

  readonly next: Rng = () => {
    this.current = (this.current + 0x6d2b79f5) >>> 0;
    let t = this.current;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };

  get state(): number {
    return this.current;
  }

  set state(value: number) {
    this.current = value >>> 0;
  }
}

export function createRng(seed: number): Rng {
  return new Mulberry32(seed).next;
}

/** Fisher–Yates permutation of 0..n-1. */
export function permutation(n: number, rng: Rng): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = order[i]!;
    order[i] = order[j]!;
    order[j] = tmp;
  }
  return order;
}

/** Derives independent integer seeds (for weight init, dropout, shuffling, noise) from the job seed. */
export function deriveSeed(seed: number, stream: number): number {
  return Math.floor(createRng((seed ^ Math.imul(stream + 1, 0x9e3779b1)) >>> 0)() * 2 ** 31);
}
