-- Hyperparameter studies: studies, their trials (each an ordinary job) and their event log; a job can pause itself at an epoch, and a trial can be stopped.
-- CreateEnum
CREATE TYPE "StudyStatus" AS ENUM ('running', 'paused', 'cancelled', 'succeeded', 'failed');

-- AlterEnum
ALTER TYPE "JobStatus" ADD VALUE 'stopped';

-- AlterTable
ALTER TABLE "jobs" ADD COLUMN     "pause_at_epoch" INTEGER;

-- CreateTable
CREATE TABLE "studies" (
    "id" UUID NOT NULL,
    "project_id" UUID NOT NULL,
    "status" "StudyStatus" NOT NULL DEFAULT 'running',
    "spec" JSONB NOT NULL,
    "reason" TEXT,
    "best_trial_id" UUID,
    "final_job_id" UUID,
    "last_seq" INTEGER NOT NULL DEFAULT 0,
    "lease_owner" TEXT,
    "lease_expires_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "studies_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "trials" (
    "id" UUID NOT NULL,
    "study_id" UUID NOT NULL,
    "number" INTEGER NOT NULL,
    "job_id" UUID NOT NULL,
    "params" JSONB NOT NULL,
    "bracket" INTEGER NOT NULL DEFAULT 0,
    "state" TEXT NOT NULL,
    "target_epoch" INTEGER NOT NULL,
    "segment_start" INTEGER NOT NULL DEFAULT 0,
    "epochs_trained" INTEGER NOT NULL DEFAULT 0,
    "results" JSONB NOT NULL DEFAULT '[]',
    "lineage" JSONB NOT NULL DEFAULT '[]',
    "reason" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "trials_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "study_events" (
    "id" BIGSERIAL NOT NULL,
    "study_id" UUID NOT NULL,
    "seq" INTEGER NOT NULL,
    "type" TEXT NOT NULL,
    "data" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "study_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "studies_project_id_id_idx" ON "studies"("project_id", "id");

-- CreateIndex
CREATE INDEX "studies_status_id_idx" ON "studies"("status", "id");

-- CreateIndex
CREATE UNIQUE INDEX "trials_job_id_key" ON "trials"("job_id");

-- CreateIndex
CREATE UNIQUE INDEX "trials_study_id_number_key" ON "trials"("study_id", "number");

-- CreateIndex
CREATE UNIQUE INDEX "study_events_study_id_seq_key" ON "study_events"("study_id", "seq");

-- AddForeignKey
ALTER TABLE "studies" ADD CONSTRAINT "studies_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "trials" ADD CONSTRAINT "trials_study_id_fkey" FOREIGN KEY ("study_id") REFERENCES "studies"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "trials" ADD CONSTRAINT "trials_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "study_events" ADD CONSTRAINT "study_events_study_id_fkey" FOREIGN KEY ("study_id") REFERENCES "studies"("id") ON DELETE CASCADE ON UPDATE CASCADE;
