import { openAsBlob } from 'node:fs';
import path from 'node:path';
import { uploadContentType, type TrainyardClient, type UploadedDataset, type UploadQuery } from '../client/index.js';
import type { CommandOptions } from './command-line.js';
import { out } from './terminal-output.js';
import { UsageError } from './usage-error.js';

export const uploadUsage = `  upload <file> [--name N] [--label COL] [--features a,b] [--text COL] [--label-type class|number]
         [--size WxH] [--channels 1|3]
                                  upload a data set (.csv, .jsonl, .json; images as .zip, .tar, .tar.gz)`;

/** Uploads a file as POST /v1/datasets takes it, its type from its name; prints what the server made of it. */
export async function uploadCommand(client: TrainyardClient, file: string | undefined, values: CommandOptions): Promise<number> {
  if (!file) throw new UsageError('upload needs a file: trainyard upload reviews.csv --text review');
  const contentType = uploadContentType(file);
  if (!contentType) throw new UsageError(`upload takes .csv, .jsonl, .ndjson, .json, .zip, .tar, .tar.gz or .tgz files, not ${path.basename(file)}`);
  const query: UploadQuery = { name: values.name ?? path.basename(file) };
  // The server checks each of these and names the one it refuses.
  for (const [key, value] of [
    ['label', values.label],
    ['features', values.features],
    ['text', values.text],
    ['labelType', values['label-type']],
    ['size', values.size],
    ['channels', values.channels],
  ] as const) {
    if (value !== undefined) Object.assign(query, { [key]: value });
  }
  const dataset = await client.uploadDataset(await openAsBlob(file), contentType, query);
  describeUpload(dataset);
  return 0;
}

function describeUpload(dataset: UploadedDataset): void {
  const input = dataset.inputShape ? `images ${dataset.inputShape.join('×')}` : dataset.textColumn ? `texts (${dataset.textColumn})` : `${dataset.featureSize} features`;
  const target = dataset.labelType === 'class' ? `${dataset.classNames.length} classes` : 'a number to predict';
  out(`data set ${dataset.id}: ${dataset.rows} rows, ${input}, ${target} (${dataset.labelColumn})`);
  if (dataset.textStats) {
    const perRow = dataset.textStats.tokensPerRow;
    out(`  ${dataset.textStats.distinctTokens} distinct words; words per text: median ${perRow.median}, 95 % ≤ ${perRow.p95}, longest ${perRow.max}`);
  }
  out(`  use it in a job spec as "dataset": {"name": "upload", "id": "${dataset.id}"}`);
}
