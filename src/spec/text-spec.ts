import { z } from 'zod';

/**
 * How a text data set's rows become token ids: the vocabulary is fitted on the job's training rows
 * only (src/engine/text-vocabulary.ts), so nothing of the held-out rows leaks into it.
 */
export const textOptionsSchema = z
  .strictObject({
    tokenizer: z
      .enum(['words', 'whitespace', 'characters'])
      .default('words')
      .describe(
        'words: runs of letters and digits (an apostrophe inside a word is kept: "don\'t"), punctuation dropped; ' +
          'whitespace: pieces between whitespace, punctuation kept; characters: every Unicode character, spaces included',
      ),
    lowercase: z.boolean().default(true).describe('Lower-case the text before splitting it'),
    vocabularySize: z
      .int()
      .min(1)
      .max(200_000)
      .default(20_000)
      .describe('The most frequent training tokens kept (ties in code-point order); ids 2 … vocabularySize + 1, with 0 the padding and 1 every other token'),
    minCount: z.int().min(1).max(1_000_000).default(1).describe('A token must occur this often in the training rows to be kept'),
    length: z.int().min(1).max(10_000).default(100).describe('Token ids per row: longer texts are cut, shorter ones padded with 0'),
    padding: z
      .enum(['end', 'start'])
      .default('end')
      .describe('Where the padding and the cut go: end keeps the first `length` tokens, start keeps the last (better for a recurrent layer\'s final state)'),
  })
  .meta({
    id: 'TextOptions',
    description:
      'A text upload only: token ids 0 (padding), 1 (a token outside the vocabulary) and 2 … for the vocabulary, most frequent first. ' +
      'The model starts with an embedding of inputDim ≥ vocabularySize + 2; predict takes raw text',
  });
export type TextOptions = z.infer<typeof textOptionsSchema>;

/** Ids below the vocabulary's: padding and "not in the vocabulary". */
export const PADDING_ID = 0;
export const UNKNOWN_ID = 1;
export const RESERVED_IDS = 2;

/** Token ids a model on this text may see: the embedding's inputDim must cover them. */
export const textIdRange = (options: TextOptions): number => options.vocabularySize + RESERVED_IDS;
