// Regenerates the job-spec reference section of README.md from the zod schema.
import { readFile, writeFile } from 'node:fs/promises';
import { withSpecReference } from '../src/spec/spec-reference.js';

const readmePath = new URL('../README.md', import.meta.url);
await writeFile(readmePath, withSpecReference(await readFile(readmePath, 'utf8')));
console.log('README.md: job-spec reference regenerated');
