import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import type { ZipEntry } from './zip-writer.js';

/**
 * The same entries as a tar (gzipped if asked), so a tar upload can be checked against its zip:
 * a Unix mode of 0o120777 becomes a symbolic link to the data, 0o010644 a fifo, `hardLink` a hard
 * link; a name ending in / a folder. tar-stream writes any name it is given, `..` and absolute ones too.
 */
export async function tarOf(entries: (ZipEntry & { hardLink?: string })[], gzip = false): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const entry of entries) {
    const data = Buffer.isBuffer(entry.data) ? entry.data : Buffer.from(entry.data ?? '');
    const kind = (entry.mode ?? 0) & 0o170000;
    if (entry.hardLink) pack.entry({ name: entry.name, type: 'link', linkname: entry.hardLink });
    else if (kind === 0o120000) pack.entry({ name: entry.name, type: 'symlink', linkname: data.toString() });
    else if (kind === 0o010000) pack.entry({ name: entry.name, type: 'fifo' });
    else if (entry.name.endsWith('/')) pack.entry({ name: entry.name, type: 'directory' });
    else pack.entry({ name: entry.name, size: data.length }, data);
  }
  pack.finalize();
  await done;
  const bytes = Buffer.concat(chunks);
  return gzip ? gzipSync(bytes) : bytes;
}
