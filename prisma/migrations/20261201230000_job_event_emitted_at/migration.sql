-- When the training process produced each event; older rows keep NULL and read as their created_at.
ALTER TABLE "job_events" ADD COLUMN "emitted_at" TIMESTAMPTZ(3);
