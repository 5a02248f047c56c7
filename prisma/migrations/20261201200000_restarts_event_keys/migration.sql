-- Restarts of a job after failures that were not its spec's fault, and why each happened.
ALTER TABLE "jobs" ADD COLUMN "restarts" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "jobs" ADD COLUMN "restart_causes" JSONB NOT NULL DEFAULT '[]';

-- Idempotent event writes: a retried write finds its event by the writer's key.
ALTER TABLE "job_events" ADD COLUMN "key" TEXT;
CREATE UNIQUE INDEX "job_events_job_id_key_key" ON "job_events"("job_id", "key");
