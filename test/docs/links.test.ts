import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The product's documentation lives in the repository: README.md for the first screen and the
 * first hour, docs/ for the rest. A link that no longer resolves after a page moves, or an anchor
 * whose heading was renamed, is a newcomer's dead end, so every one is checked here.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');
// Installed, generated or local-only trees: not the product's documentation.
const skipped = new Set(['node_modules', 'data', 'generated', 'vendor', 'tmp', 'coverage', 'dist']);

function markdownFiles(dir = ''): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const file = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name.startsWith('.') || skipped.has(entry.name) ? [] : markdownFiles(file);
    return entry.name.endsWith('.md') ? [file] : [];
  });
}

/** Fenced blocks and code spans hold commands and JSON, not links. */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`+[^`\n]*`+/g, '');
}

/** Link and image targets, without an optional title. */
function linkTargets(markdown: string): string[] {
  const text = prose(markdown);
  return [...[...text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((match) => match[1]!), ...[...text.matchAll(/<((?:https?|wss?):\/\/[^>\s]+)>/g)].map((match) => match[1]!)];
}

/** GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const ids = new Set<string>();
  const withoutFences = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const [, heading] of withoutFences.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = heading!
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    ids.add(count === 0 ? base : `${base}-${count}`);
  }
  for (const [, id] of markdown.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) ids.add(id!);
  return ids;
}

const files = markdownFiles();

describe('the documentation', () => {
  it('is found where it should be (this test would pass vacuously otherwise)', () => {
    expect(files).toContain('README.md');
    expect(files).toContain('docs/jobs.md');
    expect(files).toContain('docs/spec-reference.md');
    expect(files.filter((file) => file.startsWith('docs/')).length).toBeGreaterThanOrEqual(10);
  });

  it.each(files)('%s: every relative link names a file of the repository, and every #anchor a heading there', (file) => {
    const broken: string[] = [];
    for (const target of linkTargets(read(file))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // absolute: the next test
      const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
      const resolved = pathPart === '' ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), decodeURIComponent(pathPart)));
      if (resolved.startsWith('..') || !existsSync(path.join(root, resolved))) {
        broken.push(`${target}: no ${resolved} in the repository`);
        continue;
      }
      if (anchor === undefined) continue;
      if (!resolved.endsWith('.md') || statSync(path.join(root, resolved)).isDirectory()) {
        broken.push(`${target}: an anchor into a file that is not markdown`);
        continue;
      }
      if (!anchors(read(resolved)).has(decodeURIComponent(anchor))) broken.push(`${target}: no heading #${anchor} in ${resolved}`);
    }
    expect(broken).toEqual([]);
  });

  it.each(files)('%s: every file of examples/ it names, in a command or in prose, exists', (file) => {
    const named = [...read(file).matchAll(/(?<![\w/.-])(examples\/[\w.-]+\.(?:json|csv))/g)].map((match) => match[1]!);
    expect(named.filter((example) => !existsSync(path.join(root, example)))).toEqual([]);
  });

  it.each(files)('%s: points nowhere outside the repository but the local service', (file) => {
    const outside = linkTargets(read(file)).filter((target) => /^[a-z][a-z0-9+.-]*:/i.test(target) && !/^(?:https?|wss?):\/\/(?:localhost|127\.0\.0\.1)(?:[:/]|$)/.test(target));
    expect(outside).toEqual([]);
  });
});

describe('README.md', () => {
  const readme = read('README.md');
  const lines = readme.split('\n');

  it('fits the first screen and the first hour: under 200 lines, the rest in docs/', () => {
    expect(lines.length).toBeLessThan(200);
  });

  it('opens with the two commands, install-and-start and test, and both are npm scripts', () => {
    const opening = lines.slice(0, 8).join('\n');
    const block = /^# Trainyard\n+```sh\n([\s\S]*?)\n```/.exec(opening);
    expect(block, 'a title, then a sh block with the commands').not.toBeNull();
    const commands = block![1]!.split('\n').map((line) => line.replace(/\s+#.*$/, '').trim());
    expect(commands).toEqual(['npm install && npm start', 'npm test']);
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.start).toBeTruthy();
    expect(scripts.test).toBeTruthy();
  });

  it('links every page of docs/', () => {
    const linked = new Set(linkTargets(readme).map((target) => target.split('#')[0]));
    const pages = files.filter((file) => file.startsWith('docs/'));
    expect(pages.filter((page) => !linked.has(page))).toEqual([]);
  });
});

describe('the link checker itself', () => {
  it('reads headings and links as GitHub does', () => {
    expect(anchors('# Configuration (environment)\n## Lifecycle, checkpoints and crashes\n## `npm test` & co\n## Tests\n## Tests')).toEqual(
      new Set(['configuration-environment', 'lifecycle-checkpoints-and-crashes', 'npm-test--co', 'tests', 'tests-1']),
    );
    expect(anchors('```\n# not a heading\n```\n')).toEqual(new Set());
    expect(linkTargets('[a](b.md#c) ![p](d.png) `[x](not-a-link)` <http://localhost:3000/>\n```\n[y](inside-a-fence)\n```')).toEqual(['b.md#c', 'd.png', 'http://localhost:3000/']);
  });
});
