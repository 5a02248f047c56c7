/**
 * Group commit for one kind of write: calls made while a batch is in flight wait and go together
 * as the next batch. A lone call goes at once (no timer, no added latency); under load N concurrent
 * calls cost one round trip instead of N, and one socket write instead of N (on this VM a write
 * to PostgreSQL's socket was a tenth of the API's CPU under load).
 *
 * `write` answers the batch's results in order. When a batch fails, its items are tried again
 * one by one, so one bad item fails alone and the others' callers never see its error; `write`
 * must therefore leave nothing behind when it throws (one statement, a MULTI, a pipeline of
 * idempotent commands).
 */
export class Batcher<I, O> {
  private readonly waiting: { item: I; resolve: (result: O) => void; reject: (error: unknown) => void }[] = [];
  private inFlight = 0;

  constructor(
    private readonly write: (items: I[]) => Promise<O[]>,
    private readonly options: { maxBatch: number; concurrency: number } = { maxBatch: 100, concurrency: 2 },
  ) {}

  call(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.inFlight < this.options.concurrency) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.inFlight++;
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting.splice(0, this.options.maxBatch);
        try {
          const results = await this.write(batch.map(({ item }) => item));
          batch.forEach(({ resolve }, i) => resolve(results[i]!));
        } catch (error) {
          if (batch.length === 1) {
            batch[0]!.reject(error);
            continue;
          }
          await Promise.all(
            batch.map(({ item, resolve, reject }) =>
              this.write([item]).then(
                ([result]) => resolve(result!),
                (alone: unknown) => reject(alone),
              ),
            ),
          );
        }
      }
    } finally {
      this.inFlight--;
    }
  }
}
