import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { digitArchive } from '../../bench/transfer-images.js';
import { loadBuiltInDataset } from '../../src/engine/datasets/loader.js';
import { ZipArchive } from '../../src/datasets/image-archive.js';
import { buildImageSet } from '../../src/datasets/image-dataset.js';

const folder = mkdtempSync(path.join(tmpdir(), 'digit-archive-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

// The transfer-images bench measures accuracy on these archives: they must hold the MNIST digits
// themselves, in the right class folders, or its table measures something else.
describe("the transfer-images bench's archives", () => {
  it('read back as the MNIST digits they were made from: one class folder per digit, pixels within half a grey level', async () => {
    const mnist = loadBuiltInDataset('mnist');
    const labels = mnist.target.kind === 'classes' ? mnist.target.labels : new Int32Array();
    const rowsOf = (digit: number) => [...labels.entries()].filter(([, label]) => label === digit).map(([row]) => row);
    const [fives, nines] = [rowsOf(5), rowsOf(9)];
    const split = { train: [...fives.slice(1, 4), ...nines.slice(0, 4)], val: fives.slice(0, 1) };
    const file = path.join(folder, 'digits.zip');
    writeFileSync(file, await digitArchive(split));

    const archive = await ZipArchive.open(file, { maxEntries: 100, maxUncompressedBytes: 1 << 20, maxEntryBytes: 1 << 16 });
    const set = await buildImageSet(archive, folder, {}).finally(() => archive.close());
    expect(set).toMatchObject({ rows: 8, inputShape: [28, 28, 1], classNames: ['5', '9'], splits: { train: { rows: 7, classCounts: { '5': 3, '9': 4 } }, validation: { rows: 1 } } });

    // Stored rows are in an order of their own (a hash of the path): match each to its digit by pixels.
    const stored = new Float32Array(new Uint8Array(readFileSync(path.join(folder, 'features.f32'))).buffer);
    const storedLabels = new Int32Array(new Uint8Array(readFileSync(path.join(folder, 'labels.i32'))).buffer);
    const distance = (i: number, row: number) =>
      Math.max(...Array.from({ length: 784 }, (_, p) => Math.abs(stored[i * 784 + p]! - mnist.features[row * 784 + p]!)));
    const matched = Array.from({ length: 8 }, (_, i) => {
      const row = [...split.val, ...split.train].find((candidate) => distance(i, candidate) <= 0.5 / 255 + 1e-6);
      expect(row, `stored row ${i} is no digit of the archive`).toBeDefined();
      expect(set.classNames[storedLabels[i]!]).toBe(String(labels[row!]));
      return row;
    });
    expect(new Set(matched).size).toBe(8);
  });
});
