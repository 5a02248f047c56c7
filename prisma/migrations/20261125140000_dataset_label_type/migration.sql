-- AlterTable
ALTER TABLE "datasets" ADD COLUMN     "label_type" TEXT NOT NULL DEFAULT 'class';
