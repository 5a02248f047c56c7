-- Text sets: what the upload's texts hold under the default tokenizer ({tokenizer, lowercase,
-- distinctTokens, mostFrequent, tokensPerRow}), to choose a job's vocabularySize and length by.
ALTER TABLE "datasets" ADD COLUMN "text_stats" JSONB;
