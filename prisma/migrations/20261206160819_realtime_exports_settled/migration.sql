-- AlterTable
ALTER TABLE "run" ADD COLUMN     "exports_settled" BOOLEAN NOT NULL DEFAULT false;

-- CreateIndex
CREATE INDEX "run_realtime_unsettled_idx" ON "run"("id") WHERE ((profile = 'REALTIME'::run_profile) AND (NOT exports_settled));

-- REALTIME runs that ended before this column whose exports are all settled: the sweep need not look at them once.
UPDATE "run" r SET "exports_settled" = true
 WHERE r.profile = 'REALTIME' AND r.status NOT IN ('QUEUED', 'RUNNING', 'CANCELLING', 'PAUSED')
   AND NOT EXISTS (SELECT 1 FROM "pending_export" pe WHERE pe.planning_run_id = r.id
                     AND pe.status IN ('AWAITING_APPROVAL', 'PENDING', 'EXECUTING', 'FAILED'));
