import { describe, expect, it } from 'vitest';
import { unsafeName } from '../../src/datasets/image-archive.js';
import { layout, MAX_CLASSES } from '../../src/datasets/image-dataset.js';
import { UploadInvalidError } from '../../src/datasets/tabular-parser.js';

const problemsOf = (paths: string[]) => {
  try {
    layout(paths);
  } catch (error) {
    if (error instanceof UploadInvalidError) return error.problems.map((problem) => `${problem.file ?? '(archive)'}: ${problem.message}`);
    throw error;
  }
  return [];
};

describe('the layout of an image archive', () => {
  it('reads train/, val/ or validation/ and test/ class folders, inside one wrapping folder or not, train first', () => {
    const { items, classNames } = layout(['set/test/b/1.png', 'set/validation/a/1.jpg', 'set/train/b/deeper/1.PNG', 'set/train/a/1.jpeg', 'set/val/b/2.png']);
    expect(classNames).toEqual(['a', 'b']);
    expect(items.map((item) => [item.split, item.className])).toEqual([
      ['train', expect.any(String)],
      ['train', expect.any(String)],
      ['validation', expect.any(String)],
      ['validation', expect.any(String)],
      ['test', 'b'],
    ]);
    expect(new Set(items.slice(0, 2).map((item) => item.className))).toEqual(new Set(['a', 'b']));
  });

  it('orders rows within a split by a hash of the path, the same whatever order the archive lists them in', () => {
    const paths = Array.from({ length: 20 }, (_, i) => `train/${i % 2 ? 'a' : 'b'}/${i}.png`);
    const order = layout(paths).items.map((item) => item.path);
    expect(layout([...paths].reverse()).items.map((item) => item.path)).toEqual(order);
    // Mixed: not all of one class first.
    expect(order.slice(0, 10).some((file) => file.includes('/a/')) && order.slice(0, 10).some((file) => file.includes('/b/'))).toBe(true);
  });

  it('names each file that fits no class folder', () => {
    expect(problemsOf(['train/a/1.png', 'train/b/1.png', 'notes.txt', 'train/loose.png', 'train/a/x.bmp', 'test/c/1.png'])).toEqual([
      'notes.txt: is outside train/, val/ and test/',
      'train/loose.png: is not in a class folder (train/<class>/…)',
      'train/a/x.bmp: is not a PNG or JPEG (.bmp): only .png, .jpg, .jpeg files are read',
      'test/c/1.png: is in class folder "c", which train/ does not have',
    ]);
    expect(problemsOf([])).toEqual(['(archive): holds no images: put them in train/<class>/ folders']);
    expect(problemsOf(['val/a/1.png'])).toEqual(['(archive): has no train/ folder: put images in train/<class>/']);
    expect(problemsOf(['train/a/1.png', 'train/a/2.png'])).toEqual(['(archive): train/ has only one class folder (a): nothing to learn']);
    expect(problemsOf(Array.from({ length: MAX_CLASSES + 1 }, (_, i) => `train/c${i}/1.png`))[0]).toContain(`at most ${MAX_CLASSES}`);
  });

  it('refuses entry names that could leave a folder they were extracted to', () => {
    expect(unsafeName('train/a/1.png')).toBeNull();
    expect(unsafeName('train/a/')).toBeNull();
    for (const name of ['../x', 'a/../../x', '/etc/passwd', 'C:/x', 'c:x', 'a\\..\\x', 'a//b', './a', 'a/./b', '', 'a\0b']) expect(unsafeName(name), name).not.toBeNull();
  });
});
