// Regenerates docs/spec-reference.md's generated part from the zod schema.
import { readFile, writeFile } from 'node:fs/promises';
import { withSpecReference } from '../src/spec/spec-reference.js';

const referencePath = new URL('../docs/spec-reference.md', import.meta.url);
await writeFile(referencePath, withSpecReference(await readFile(referencePath, 'utf8')));
console.log('docs/spec-reference.md: job-spec reference regenerated');
