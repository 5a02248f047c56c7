import http from 'node:http';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { zip, type ZipEntry } from '../support/zip-writer.js';

// The shortest idle timeout there is: any upload takes longer than this to check once it is in.
const IDLE_TIMEOUT_MS = 100;

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('upload-timeouts', { IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS), UPLOAD_LIMIT_BYTES: String(32 * 1024 * 1024) });
});
afterAll(async () => harness?.close());

/** POSTs the body in one go; resolves with the status and how long the server took after the last byte left. */
function post(pathAndQuery: string, type: string, body: Buffer): Promise<{ status: number; thinkingMs: number }> {
  const url = new URL(pathAndQuery, harness.baseUrl);
  return new Promise((resolve, reject) => {
    let sentAt = 0;
    const req = http.request(url, { method: 'POST', headers: { 'content-type': type, 'content-length': body.length } }, (res) => {
      const thinkingMs = performance.now() - sentAt;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, thinkingMs }));
    });
    req.on('error', reject);
    req.end(body, () => (sentAt = performance.now()));
  });
}

describe('uploads the server takes a while to check', () => {
  it('answer after IDLE_TIMEOUT_MS of the server\'s own work instead of resetting the connection', async () => {
    const entries: ZipEntry[] = [];
    const image = await sharp(Buffer.alloc(64 * 64 * 3, 90), { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer();
    for (const cls of ['a', 'b']) for (let i = 0; i < 400; i++) entries.push({ name: `train/${cls}/${i}.png`, data: image, method: 'store' });
    const answer = await post('/v1/datasets?name=slow&size=8&channels=1', 'application/zip', zip(entries));
    expect(answer.status).toBe(201);
    // The case this guards: the server was silent longer than the idle timeout after the body was in.
    expect(answer.thinkingMs).toBeGreaterThan(2 * IDLE_TIMEOUT_MS);
  });
});
