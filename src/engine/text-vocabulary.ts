import { PADDING_ID, RESERVED_IDS, UNKNOWN_ID, type TextOptions } from '../spec/text-spec.js';

/**
 * A text set's vocabulary, fitted on the training rows: `tokens[i]` has id i + RESERVED_IDS. It is
 * recorded in every checkpoint, so predict turns raw text into the same ids training saw.
 */
export interface FittedVocabulary {
  text: TextOptions;
  tokens: string[];
}

/** What training reports of a vocabulary (the whole of it is in the checkpoints). */
export interface VocabularySummary {
  text: TextOptions;
  /** Tokens kept (at most vocabularySize). */
  size: number;
  /** Distinct tokens in the training rows, kept or not. */
  distinctTokens: number;
  /** The most frequent tokens, most frequent first. */
  mostFrequent: string[];
  /** Share of the training rows longer than `length` tokens, which were cut. */
  truncatedRows: number;
}

/** Most frequent first; ties in code-point order, so the same rows always give the same order. */
const byCount = ([a, countA]: [string, number], [b, countB]: [string, number]): number => countB - countA || (a < b ? -1 : a > b ? 1 : 0);

// Letters or digits, with an apostrophe joining two such runs ("don't", "l'été").
const WORD = /[\p{L}\p{N}\p{M}]+(?:['’][\p{L}\p{N}\p{M}]+)*/gu;
const WHITESPACE = /\s+/u;

export function tokenize(text: string, options: Pick<TextOptions, 'tokenizer' | 'lowercase'>): string[] {
  const source = options.lowercase ? text.toLowerCase() : text;
  switch (options.tokenizer) {
    case 'words':
      return source.match(WORD) ?? [];
    case 'whitespace':
      return source.split(WHITESPACE).filter((piece) => piece !== '');
    case 'characters':
      // By code point, so a character outside the BMP is one token, not two halves.
      return Array.from(source);
  }
}

/**
 * The `vocabularySize` most frequent tokens of `texts` that occur at least `minCount` times; ties in
 * code-point order, so the same rows always give the same ids.
 */
export function fitVocabulary(texts: Iterable<string>, text: TextOptions): { vocabulary: FittedVocabulary; summary: VocabularySummary } {
  const counts = new Map<string, number>();
  let rows = 0;
  let truncated = 0;
  for (const row of texts) {
    const tokens = tokenize(row, text);
    rows += 1;
    if (tokens.length > text.length) truncated += 1;
    for (const token of tokens) counts.set(token, (counts.get(token) ?? 0) + 1);
  }
  const kept = [...counts].filter(([, count]) => count >= text.minCount).sort(byCount);
  const tokens = kept.slice(0, text.vocabularySize).map(([token]) => token);
  return {
    vocabulary: { text, tokens },
    summary: { text, size: tokens.length, distinctTokens: counts.size, mostFrequent: tokens.slice(0, 20), truncatedRows: rows === 0 ? 0 : truncated / rows },
  };
}

/** Looks tokens up in a fitted vocabulary; build once per vocabulary, use for many rows. */
export class TokenEncoder {
  private readonly ids: Map<string, number>;

  constructor(private readonly vocabulary: FittedVocabulary) {
    this.ids = new Map(vocabulary.tokens.map((token, i) => [token, i + RESERVED_IDS]));
  }

  /** One row's `length` ids into `into` at `offset`: padded with 0 and cut at the end or the start as `padding` says. */
  encode(text: string, into: Float32Array, offset = 0): void {
    const { length, padding } = this.vocabulary.text;
    const tokens = tokenize(text, this.vocabulary.text);
    const used = Math.min(tokens.length, length);
    // padding 'start': the last `length` tokens, right-aligned.
    const first = padding === 'start' ? tokens.length - used : 0;
    const at = padding === 'start' ? length - used : 0;
    into.fill(PADDING_ID, offset, offset + length);
    for (let i = 0; i < used; i++) into[offset + at + i] = this.ids.get(tokens[first + i]!) ?? UNKNOWN_ID;
  }

  /** Rows of ids, [texts.length × length]. */
  encodeAll(texts: readonly string[]): Float32Array {
    const length = this.vocabulary.text.length;
    const out = new Float32Array(texts.length * length);
    texts.forEach((text, i) => this.encode(text, out, i * length));
    return out;
  }
}

/** What a text set's rows hold, counted once at upload to choose vocabularySize and length by (a type, so it is a JSON value to Prisma). */
export type TextStatistics = {
  tokenizer: TextOptions['tokenizer'];
  lowercase: boolean;
  distinctTokens: number;
  /** The 20 most frequent tokens with their counts, most frequent first. */
  mostFrequent: { token: string; count: number }[];
  tokensPerRow: { mean: number; median: number; p95: number; max: number };
};

export function textStatistics(texts: readonly string[], options: Pick<TextOptions, 'tokenizer' | 'lowercase'>): TextStatistics {
  const counts = new Map<string, number>();
  const lengths = new Int32Array(texts.length);
  texts.forEach((text, i) => {
    const tokens = tokenize(text, options);
    lengths[i] = tokens.length;
    for (const token of tokens) counts.set(token, (counts.get(token) ?? 0) + 1);
  });
  lengths.sort();
  const at = (q: number) => (lengths.length === 0 ? 0 : lengths[Math.min(lengths.length - 1, Math.floor(q * lengths.length))]!);
  const total = lengths.reduce((sum, n) => sum + n, 0);
  const mostFrequent = [...counts]
    .sort(byCount)
    .slice(0, 20)
    .map(([token, count]) => ({ token, count }));
  return {
    tokenizer: options.tokenizer,
    lowercase: options.lowercase,
    distinctTokens: counts.size,
    mostFrequent,
    tokensPerRow: { mean: lengths.length === 0 ? 0 : Math.round((total / lengths.length) * 10) / 10, median: at(0.5), p95: at(0.95), max: at(1) },
  };
}
