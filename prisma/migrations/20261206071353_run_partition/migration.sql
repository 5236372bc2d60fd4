-- CreateTable
CREATE TABLE "run_partition" (
    "run_id" UUID NOT NULL,
    "index" INTEGER NOT NULL,
    "after_id" UUID,
    "to_id" UUID,
    "size" INTEGER NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'QUEUED',
    "job_id" TEXT,
    "worker_id" TEXT,
    "attempt" INTEGER NOT NULL DEFAULT 0,
    "heartbeat_at" TIMESTAMP(3),
    "checkpoint" JSONB,
    "processed" INTEGER NOT NULL DEFAULT 0,
    "counts" JSONB NOT NULL DEFAULT '{}',
    "error" TEXT,
    "started_at" TIMESTAMP(3),
    "finished_at" TIMESTAMP(3),

    CONSTRAINT "run_partition_pkey" PRIMARY KEY ("run_id","index")
);

-- CreateTable
CREATE TABLE "sync_key_claim" (
    "run_id" UUID NOT NULL,
    "key" UUID NOT NULL,

    CONSTRAINT "sync_key_claim_pkey" PRIMARY KEY ("run_id","key")
);


-- AddForeignKey
ALTER TABLE "run_partition" ADD CONSTRAINT "run_partition_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "run"("id") ON DELETE CASCADE ON UPDATE CASCADE;





-- The statuses a partition goes through (src/jobs/partitions.ts).
ALTER TABLE "run_partition" ADD CONSTRAINT "run_partition_status_check" CHECK ("status" IN ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'));
