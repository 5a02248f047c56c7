import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';
import { tarOf } from '../support/tar-writer.js';
import { zip, type ZipEntry } from '../support/zip-writer.js';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('images', {
    TRAINYARD_BACKEND: 'wasm',
    UPLOAD_LIMIT_BYTES: String(20 * 1024 * 1024),
    ARCHIVE_MAX_ENTRIES: '1000',
    ARCHIVE_MAX_UNCOMPRESSED_BYTES: String(16 * 1024 * 1024),
  });
});
afterAll(async () => harness?.close());

const api = () => request(harness.app.server);
const uploadZip = (body: Buffer, query = 'name=images', type = 'application/zip') => api().post(`/v1/datasets?${query}`).set('content-type', type).send(body);
const uploadTar = (body: Buffer, gzipped: boolean, query = 'name=images') => uploadZip(body, query, gzipped ? 'application/gzip' : 'application/x-tar');

const classes = ['bar', 'cross', 'dot'];

/** An 8×8 grey picture of its class (a horizontal bar, a cross, a centre dot) with a little seeded noise. */
function pixelsOf(cls: number, seed: number, size = 8): Buffer {
  const pixels = Buffer.alloc(size * size);
  const mid = size / 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const on = cls === 0 ? y === mid || y === mid - 1 : cls === 1 ? x === y || x === size - 1 - y : Math.abs(x - mid + 0.5) < 1.5 && Math.abs(y - mid + 0.5) < 1.5;
      const noise = ((seed * 7919 + y * 31 + x * 17) % 40) - 20;
      pixels[y * size + x] = Math.max(0, Math.min(255, (on ? 220 : 30) + noise));
    }
  }
  return pixels;
}

const png = (pixels: Buffer, width: number, height: number, channels: 1 | 3 = 1) =>
  sharp(pixels, { raw: { width, height, channels } }).toColourspace(channels === 1 ? 'b-w' : 'srgb').png().toBuffer();

/** train/ with `perClass` images of each class, val/ and test/ with a few each, inside one wrapping folder. */
async function classFolders(perClass: number, held = 4): Promise<ZipEntry[]> {
  const entries: ZipEntry[] = [{ name: 'shapes/' }];
  for (const [split, count] of [['train', perClass], ['val', held], ['test', held]] as const) {
    for (const [cls, name] of classes.entries()) {
      for (let i = 0; i < count; i++) entries.push({ name: `shapes/${split}/${name}/${i}.png`, data: await png(pixelsOf(cls, i + (split === 'train' ? 0 : 1000)), 8, 8), method: 'store' });
    }
  }
  // What macOS adds to every archive it makes: skipped, not refused.
  entries.push({ name: 'shapes/__MACOSX/._x.png', data: 'junk' }, { name: 'shapes/train/bar/.DS_Store', data: 'junk' });
  return entries;
}

/** Everything under DATA_DIR: an upload refused must leave nothing, not even its staging folder. */
function storedFiles(): string[] {
  const root = harness.config.DATA_DIR;
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((entry) => statSync(path.join(root, entry)).isFile());
}

function expectNothingStoredBeyond(before: string[]): void {
  expect(storedFiles().filter((file) => !before.includes(file))).toEqual([]);
}

const cnn = (id: string) => ({
  dataset: { name: 'upload', id },
  model: {
    layers: [
      { type: 'conv2d', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' },
      { type: 'maxPool2d', poolSize: 2 },
      { type: 'flatten' },
      { type: 'dense', units: 3 },
    ],
  },
  epochs: 25,
  batchSize: 16,
  learningRate: 0.01,
  seed: 1,
});

describe('image archives', () => {
  let uploaded: { id: string };

  it('stores class folders as [h, w, c] rows with class counts per split, and shows a sample grid', async () => {
    const archive = zip(await classFolders(20));
    const first = await uploadZip(archive);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.headers.location).toBe(`/v1/datasets/${first.body.id}`);
    expect(first.body).toMatchObject({
      format: 'zip',
      rows: 84,
      featureNames: [],
      labelColumn: 'folder',
      labelType: 'class',
      classNames: classes,
      featureSize: 64,
      inputShape: [8, 8, 1],
      splits: {
        train: { rows: 60, classCounts: { bar: 20, cross: 20, dot: 20 } },
        validation: { rows: 12, classCounts: { bar: 4, cross: 4, dot: 4 } },
        test: { rows: 12, classCounts: { bar: 4, cross: 4, dot: 4 } },
      },
      images: { sources: [{ width: 8, height: 8, channels: 1, files: 84 }], resized: 0 },
    });
    uploaded = first.body;
    const folder = readdirSync(harness.config.DATA_DIR, { recursive: true, encoding: 'utf8' }).find((entry) => entry.endsWith('features.f32'))!;
    expect(statSync(path.join(harness.config.DATA_DIR, folder)).size).toBe(84 * 64 * 4);

    const again = await uploadZip(archive, 'name=again');
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);

    const detail = await api().get(`/v1/datasets/${first.body.id}`);
    expect(detail.status).toBe(200);
    expect(detail.body.splits.train.classCounts).toEqual({ bar: 20, cross: 20, dot: 20 });
    expect(detail.body.samples).toEqual({ grid: `/v1/datasets/${first.body.id}/samples.png` });

    const grid = await api().get(detail.body.samples.grid).buffer(true);
    expect(grid.status).toBe(200);
    expect(grid.headers['content-type']).toBe('image/png');
    // 8 images of 8 px per class row, 1 px apart, scaled up 8 times to be seen.
    const metadata = await sharp(grid.body as Buffer).metadata();
    expect([metadata.width, metadata.height]).toEqual([(8 * 9 + 1) * 8, (3 * 9 + 1) * 8]);
    const twice = await api().get(detail.body.samples.grid).buffer(true);
    expect(Buffer.compare(twice.body as Buffer, grid.body as Buffer)).toBe(0);
  });

  it('trains a small CNN on the upload through the worker and predicts an image', async () => {
    await harness.startWorker();
    // A dense model on [8, 8, 1] rows is fine, a conv2d on a table is not: the shape comes from the database.
    const job = await api().post('/v1/jobs').send(cnn(uploaded.id));
    expect(job.status, JSON.stringify(job.body)).toBe(201);
    const done = await waitFor('the CNN job', async () => {
      const current = (await api().get(`/v1/jobs/${job.body.id}`)).body;
      return ['succeeded', 'failed'].includes(current.status) && current;
    });
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    const metrics = (await api().get(`/v1/jobs/${job.body.id}/metrics?scope=epoch`)).body.data;
    expect(metrics.at(-1).values.val_accuracy).toBeGreaterThan(0.8);
    // The val/ and test/ folders are the job's validation and test sets: every train/ row trains.
    const events = (await api().get(`/v1/jobs/${job.body.id}/events`)).body.data as { type: string; data: Record<string, number> }[];
    const splits = (await api().get(`/v1/datasets/${uploaded.id}`)).body.splits;
    expect(events.find((event) => event.type === 'started')!.data).toMatchObject({
      trainRows: splits.train.rows,
      validationRows: splits.validation.rows,
      testRows: splits.test.rows,
    });
    expect(metrics.at(-1).values.test_accuracy).toBeGreaterThan(0.8);

    // The stored shape makes the upload an image set for augmentation too.
    const augmented = await api().post('/v1/jobs').send({ ...cnn(uploaded.id), epochs: 2, augmentation: { randomCrop: { padding: 1 }, horizontalFlip: {} } });
    expect(augmented.status, JSON.stringify(augmented.body)).toBe(201);
    const augmentedDone = await waitFor('the augmented job', async () => {
      const current = (await api().get(`/v1/jobs/${augmented.body.id}`)).body;
      return ['succeeded', 'failed'].includes(current.status) && current;
    });
    expect(augmentedDone.status, JSON.stringify(augmentedDone.error)).toBe('succeeded');

    const image = (cls: number) => {
      const pixels = pixelsOf(cls, 5000 + cls);
      return Array.from({ length: 8 }, (_, y) => Array.from({ length: 8 }, (_, x) => [pixels[y * 8 + x]! / 255]));
    };
    const predicted = await api().post(`/v1/jobs/${job.body.id}/predict`).send({ inputs: [image(0), image(1), image(2)] });
    expect(predicted.status, JSON.stringify(predicted.body)).toBe(200);
    expect(predicted.body.predictions.map((p: { label: string }) => p.label)).toEqual(classes);
  });

  it('refuses images of different sizes without size, listing the sizes, and resizes them with size', async () => {
    const before = storedFiles();
    const entries: ZipEntry[] = [
      ...(await Promise.all([0, 1, 2].map(async (i) => ({ name: `train/bar/${i}.png`, data: await png(pixelsOf(0, i), 8, 8) })))),
      ...(await Promise.all([0, 1].map(async (i) => ({ name: `train/dot/${i}.png`, data: await png(pixelsOf(2, i, 10), 10, 10) })))),
    ];
    const refused = await uploadZip(zip(entries));
    expect(refused.status).toBe(422);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    const messages = refused.body.errors.map((e: { message: string }) => e.message).join('\n');
    expect(messages).toContain('3 images are 8×8');
    expect(messages).toContain('2 images are 10×10');
    expect(messages).toContain('size=WIDTHxHEIGHT');
    expectNothingStoredBeyond(before);

    const resized = await uploadZip(zip(entries), 'name=resized&size=6x4');
    expect(resized.status, JSON.stringify(resized.body)).toBe(201);
    expect(resized.body).toMatchObject({ inputShape: [4, 6, 1], featureSize: 24, images: { resized: 5 } });
    expect(resized.body.images.sources).toEqual([
      { width: 8, height: 8, channels: 1, files: 3 },
      { width: 10, height: 10, channels: 1, files: 2 },
    ]);
    // The same archive read at another size is another reading of it: 409, not a silent reuse.
    expect((await uploadZip(zip(entries), 'name=other&size=8x8')).status).toBe(409);
  });

  it('refuses grey and colour images mixed unless channels is named', async () => {
    const entries: ZipEntry[] = [
      { name: 'train/a/0.png', data: await png(pixelsOf(0, 1), 8, 8) },
      { name: 'train/b/0.png', data: await png(Buffer.alloc(8 * 8 * 3, 90), 8, 8, 3) },
      { name: 'train/b/1.jpg', data: await sharp(Buffer.alloc(8 * 8 * 3, 200), { raw: { width: 8, height: 8, channels: 3 } }).jpeg().toBuffer() },
    ];
    const refused = await uploadZip(zip(entries));
    expect(refused.status).toBe(422);
    expect(refused.body.detail).toContain('channels=1 or channels=3');
    const colour = await uploadZip(zip(entries), 'name=colour&channels=3');
    expect(colour.status, JSON.stringify(colour.body)).toBe(201);
    expect(colour.body.inputShape).toEqual([8, 8, 3]);
  });

  it('lists corrupt, truncated and unsupported files by path and stores nothing', async () => {
    const before = storedFiles();
    const good = await png(pixelsOf(0, 1), 8, 8);
    const refused = await uploadZip(
      zip([
        { name: 'train/bar/good.png', data: good },
        { name: 'train/bar/cut.png', data: good.subarray(0, good.length - 20) },
        { name: 'train/dot/text.png', data: 'not an image at all' },
        { name: 'train/dot/anim.gif', data: 'GIF89a' },
        { name: 'readme.txt', data: 'hello' },
        { name: 'train/loose.png', data: good },
      ]),
    );
    expect(refused.status).toBe(422);
    expect(refused.body.errors.map((e: { file: string }) => e.file).sort()).toEqual(['readme.txt', 'train/dot/anim.gif', 'train/loose.png']);
    // Files that fit the layout are then decoded: the broken ones are named with why.
    const decoded = await uploadZip(zip([{ name: 'train/bar/good.png', data: good }, { name: 'train/bar/cut.png', data: good.subarray(0, good.length - 20) }, { name: 'train/dot/text.png', data: 'not an image at all' }]));
    expect(decoded.status).toBe(422);
    // In storage order (a hash of the path): the same every time, but not alphabetical.
    const byFile = Object.fromEntries(decoded.body.errors.map((e: { file: string; field: string; message: string }) => [e.file, e]));
    expect(Object.keys(byFile).sort()).toEqual(['train/bar/cut.png', 'train/dot/text.png']);
    expect(byFile['train/bar/cut.png']).toMatchObject({ field: 'train/bar/cut.png', message: expect.stringContaining('cannot be decoded') });
    expect(byFile['train/dot/text.png'].message).toContain('not an image');
    expectNothingStoredBeyond(before);
  });

  it('refuses paths that leave the archive, absolute paths and symbolic links, naming each entry', async () => {
    const before = storedFiles();
    const good = await png(pixelsOf(0, 1), 8, 8);
    const refused = await uploadZip(
      zip([
        { name: 'train/bar/ok.png', data: good },
        { name: '../../escape.png', data: good },
        { name: 'train/bar/../../../etc/x.png', data: good },
        { name: '/etc/abs.png', data: good },
        { name: 'train/bar/link.png', data: '/etc/passwd', mode: 0o120777 },
        { name: 'train/bar/fifo.png', mode: 0o010644 },
      ]),
    );
    expect(refused.status).toBe(422);
    const byFile = Object.fromEntries(refused.body.errors.map((e: { file: string; message: string }) => [e.file, e.message]));
    expect(byFile['../../escape.png']).toContain('leaves the archive');
    expect(byFile['train/bar/../../../etc/x.png']).toContain('leaves the archive');
    expect(byFile['/etc/abs.png']).toContain('absolute');
    expect(byFile['train/bar/link.png']).toContain('symbolic link');
    expect(byFile['train/bar/fifo.png']).toContain('not a regular file');
    expect(existsSync(path.join(harness.config.DATA_DIR, '..', 'escape.png'))).toBe(false);
    expectNothingStoredBeyond(before);
  });

  it('refuses zip bombs quickly, whether the headers admit the size or lie about it', async () => {
    const before = storedFiles();
    const zeros = Buffer.alloc(64 * 1024 * 1024);
    const honest = zip([{ name: 'train/a/bomb.png', data: zeros }]);
    expect(honest.length).toBeLessThan(200_000);
    let started = Date.now();
    const admitted = await uploadZip(honest);
    expect(admitted.status).toBe(413);
    expect(admitted.body.detail).toMatch(/per file|ARCHIVE_MAX_UNCOMPRESSED_BYTES/);
    // Many entries, each small enough, together far beyond the limit.
    const spread = zip(Array.from({ length: 40 }, (_, i) => ({ name: `train/a/${i}.png`, data: zeros.subarray(0, 1024 * 1024) })));
    expect((await uploadZip(spread)).status).toBe(413);
    expect(Date.now() - started).toBeLessThan(5_000);

    started = Date.now();
    const lying = await uploadZip(zip([{ name: 'train/a/small.png', data: zeros, declaredSize: 1000 }, { name: 'train/b/small.png', data: 'x' }]));
    expect(lying.status).toBe(422);
    expect(lying.body.errors[0]).toMatchObject({ file: 'train/a/small.png', message: expect.stringContaining('cannot be inflated') });
    expect(Date.now() - started).toBeLessThan(5_000);
    expectNothingStoredBeyond(before);
  });

  it('refuses an archive of very many tiny files by its entry count, before reading them', async () => {
    const tiny = zip(Array.from({ length: 100_000 }, (_, i) => ({ name: `train/c${i % 2}/${i}.png`, data: 'x', method: 'store' as const })));
    const started = Date.now();
    const refused = await uploadZip(tiny);
    expect(refused.status).toBe(413);
    expect(refused.body.detail).toContain('ARCHIVE_MAX_ENTRIES');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('answers 422 for a body that is not a zip, and 400 for parameters of the other kind of upload', async () => {
    const garbage = await uploadZip(Buffer.from('PK\u0003\u0004 but nothing after'));
    expect(garbage.status).toBe(422);
    expect(garbage.body.detail).toContain('not a readable zip archive');
    const labelOnZip = await uploadZip(zip([{ name: 'train/a/x.png', data: 'x' }]), 'name=x&label=y');
    expect(labelOnZip.status).toBe(400);
    expect(labelOnZip.body.errors[0].field).toBe('label');
    const sizeOnCsv = await api().post('/v1/datasets?name=x&size=8x8').set('content-type', 'text/csv').send('a,label\n1,x\n2,y\n');
    expect(sizeOnCsv.status).toBe(400);
    expect((await uploadZip(zip([]), 'name=x&size=0x8')).status).toBe(400);
  });

  it('keeps answering other requests while a large archive is decoded', async () => {
    // Noise does not compress: each 96×96 colour image is a real decode and resize.
    const entries: ZipEntry[] = [];
    for (let i = 0; i < 320; i++) {
      const noise = Buffer.alloc(96 * 96 * 3);
      for (let j = 0; j < noise.length; j++) noise[j] = (j * 2654435761 + i * 40503) >>> 24;
      entries.push({ name: `train/c${i % 2}/${i}.png`, data: await png(noise, 96, 96, 3), method: 'store' });
    }
    const started = Date.now();
    let finished = false;
    const upload = uploadZip(zip(entries), 'name=large&size=32x32').then((response) => {
      finished = true;
      return response;
    });
    const latencies: number[] = [];
    while (!finished) {
      const started = Date.now();
      expect((await api().get('/healthz')).status).toBe(200);
      latencies.push(Date.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const response = await upload;
    const took = Date.now() - started;
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    expect(response.body.inputShape).toEqual([32, 32, 3]);
    expect(latencies.length).toBeGreaterThan(3);
    // Decoding on the event loop would hold a health check for most of the upload: none waits a third of it.
    expect(Math.max(...latencies), `${latencies.length} health checks over ${took} ms: ${latencies.join(' ')}`).toBeLessThan(Math.max(300, took / 3));
  });
});

describe('tar archives', () => {
  it('store the same rows as the zip of the same folders, plain or gzipped', async () => {
    const entries = await classFolders(6);
    const fromZip = await uploadZip(zip(entries), 'name=as-zip');
    expect(fromZip.status).toBe(201);
    for (const gzipped of [false, true]) {
      const before = storedFiles();
      const fromTar = await uploadTar(await tarOf(entries, gzipped), gzipped, `name=as-tar-${gzipped}`);
      expect(fromTar.status, JSON.stringify(fromTar.body)).toBe(201);
      expect(fromTar.body.format).toBe(gzipped ? 'tar.gz' : 'tar');
      const { id: _a, name: _b, format: _c, sha256: _d, sizeBytes: _e, createdAt: _f, ...tarFacts } = fromTar.body;
      const { id: _g, name: _h, format: _i, sha256: _j, sizeBytes: _k, createdAt: _l, ...zipFacts } = fromZip.body;
      expect(tarFacts).toEqual(zipFacts);
      // Byte for byte the same rows and labels, and nothing of the tar's scratch copy left behind.
      const added = storedFiles().filter((file) => !before.includes(file));
      expect(added.map((file) => path.basename(file)).sort()).toEqual(['features.f32', 'labels.i32', `original.${gzipped ? 'tar.gz' : 'tar'}`]);
      const zipFolder = path.dirname(storedFiles().find((file) => file.endsWith('features.f32') && !added.includes(file) && file.includes(fromZip.body.sha256))!);
      const tarFolder = path.dirname(added.find((file) => file.endsWith('features.f32'))!);
      for (const file of ['features.f32', 'labels.i32']) {
        expect(readFileSync(path.join(harness.config.DATA_DIR, tarFolder, file)).equals(readFileSync(path.join(harness.config.DATA_DIR, zipFolder, file)))).toBe(true);
      }
    }
  });

  it('refuse unsafe names, links, fifos and duplicates, naming each entry, and store nothing', async () => {
    const before = storedFiles();
    const good = await png(pixelsOf(0, 1), 8, 8);
    const refused = await uploadTar(
      await tarOf([
        { name: 'train/bar/ok.png', data: good },
        { name: '../../escape.png', data: good },
        { name: '/etc/abs.png', data: good },
        { name: 'train/bar/link.png', data: '/etc/passwd', mode: 0o120777 },
        { name: 'train/bar/hard.png', hardLink: 'train/bar/ok.png' },
        { name: 'train/bar/fifo.png', mode: 0o010644 },
        { name: 'train/bar/ok.png', data: good },
      ], true),
      true,
    );
    expect(refused.status, JSON.stringify(refused.body)).toBe(422);
    const byFile = Object.fromEntries(refused.body.errors.map((e: { file: string; message: string }) => [e.file, e.message]));
    expect(byFile['../../escape.png']).toContain('leaves the archive');
    expect(byFile['/etc/abs.png']).toContain('absolute');
    expect(byFile['train/bar/link.png']).toContain('symbolic link');
    expect(byFile['train/bar/hard.png']).toContain('hard link');
    expect(byFile['train/bar/fifo.png']).toContain('not a regular file');
    expect(byFile['train/bar/ok.png']).toContain('appears twice');
    expect(existsSync(path.join(harness.config.DATA_DIR, '..', 'escape.png'))).toBe(false);
    expectNothingStoredBeyond(before);
  });

  it('stop a gzip bomb and an archive of very many tiny files at the limits, quickly', async () => {
    const before = storedFiles();
    const zeros = Buffer.alloc(64 * 1024 * 1024);
    const started = Date.now();
    const bomb = await tarOf([{ name: 'train/a/bomb.png', data: zeros }], true);
    expect(bomb.length).toBeLessThan(200_000);
    const one = await uploadTar(bomb, true);
    expect([413, 422]).toContain(one.status);
    expect(JSON.stringify(one.body)).toMatch(/per file|ARCHIVE_MAX_UNCOMPRESSED_BYTES/);
    const spread = await tarOf(Array.from({ length: 40 }, (_, i) => ({ name: `train/a/${i}.png`, data: zeros.subarray(0, 1024 * 1024) })), true);
    const many = await uploadTar(spread, true);
    expect(many.status).toBe(413);
    expect(many.body.detail).toContain('ARCHIVE_MAX_UNCOMPRESSED_BYTES');
    const tiny = await tarOf(Array.from({ length: 5000 }, (_, i) => ({ name: `train/c${i % 2}/${i}.png`, data: 'x' })), true);
    const counted = await uploadTar(tiny, true);
    expect(counted.status).toBe(413);
    expect(counted.body.detail).toContain('ARCHIVE_MAX_ENTRIES');
    expect(Date.now() - started).toBeLessThan(20_000);
    expectNothingStoredBeyond(before);
  });

  it('answer 422 for a truncated tar and for bytes that are not gzip', async () => {
    const before = storedFiles();
    const whole = await tarOf(await classFolders(2));
    const cut = await uploadTar(whole.subarray(0, whole.length - 3000), false);
    expect(cut.status).toBe(422);
    expect(cut.body.detail).toMatch(/not a readable tar archive|cannot|truncated|end/i);
    const garbage = await uploadTar(Buffer.from('not gzip at all, not even close'), true);
    expect(garbage.status).toBe(422);
    expect(garbage.body.detail).toContain('not a readable gzip archive');
    expectNothingStoredBeyond(before);
  });
});

describe('table uploads', () => {
  it('show class counts and sample rows of each class', async () => {
    const rows = ['x,y,label', ...Array.from({ length: 30 }, (_, i) => `${i},${i * 2},${i % 3 === 0 ? 'a' : 'b'}`)].join('\n');
    const created = await api().post('/v1/datasets?name=table').set('content-type', 'text/csv').send(rows);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ inputShape: null, featureSize: 2, splits: { train: { rows: 30, classCounts: { a: 10, b: 20 } } }, images: null });
    const detail = await api().get(`/v1/datasets/${created.body.id}`);
    expect(detail.status).toBe(200);
    expect(detail.body.samples.rows.slice(0, 2)).toEqual([
      { x: 0, y: 0, label: 'a' },
      { x: 1, y: 2, label: 'b' },
    ]);
    expect(new Set(detail.body.samples.rows.map((row: { label: string }) => row.label))).toEqual(new Set(['a', 'b']));
    expect((await api().get(`/v1/datasets/${created.body.id}/samples.png`)).status).toBe(404);
  });
});
