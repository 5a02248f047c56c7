/** What the event bench checks of one subscriber's seqs, kept as they arrive instead of as a list. */
export interface SeqSummary {
  received: number;
  last: number;
  /** Every seq was the one after the previous, starting at 1. */
  inOrder: boolean;
}

export class SeqFeed {
  private received = 0;
  private last = 0;
  private inOrder = true;

  push(seq: number): void {
    if (seq !== this.last + 1) this.inOrder = false;
    this.last = seq;
    this.received++;
  }

  summary(): SeqSummary {
    return { received: this.received, last: this.last, inOrder: this.inOrder };
  }
}

/** Subscribers that got every seq from 1 to the last any of them saw, once each, in order. */
export function completeFeeds(feeds: readonly SeqSummary[]): { events: number; complete: number } {
  const events = Math.max(0, ...feeds.map((feed) => feed.last));
  return { events, complete: feeds.filter((feed) => feed.inOrder && feed.received === events && feed.last === events).length };
}
