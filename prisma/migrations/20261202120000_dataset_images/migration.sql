-- Image uploads: the shape of one row ([height, width, channels]; NULL for a table, whose rows are
-- [features]), and per split the rows and the rows of each class (NULL for uploads made before this).
ALTER TABLE "datasets" ADD COLUMN "input_shape" JSONB;
ALTER TABLE "datasets" ADD COLUMN "splits" JSONB;
-- Image sets: the sizes the images came in and how many were resized ({sources, resized}).
ALTER TABLE "datasets" ADD COLUMN "images" JSONB;
