-- Text uploads: the column whose texts are the rows (each job fits its own vocabulary on its
-- training rows); NULL for tables of numbers and for image sets.
ALTER TABLE "datasets" ADD COLUMN "text_column" TEXT;
