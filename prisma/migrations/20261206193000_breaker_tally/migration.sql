-- CreateTable
CREATE TABLE "breaker_tally" (
    "run_id" UUID NOT NULL,
    "scope_key" TEXT NOT NULL,
    "slot" TEXT NOT NULL,
    "connected_system_id" UUID NOT NULL,
    "creates" INTEGER NOT NULL DEFAULT 0,
    "updates" INTEGER NOT NULL DEFAULT 0,
    "deletes" INTEGER NOT NULL DEFAULT 0,
    "attributes" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "breaker_tally_pkey" PRIMARY KEY ("run_id","scope_key","slot")
);

-- AddForeignKey
ALTER TABLE "breaker_tally" ADD CONSTRAINT "breaker_tally_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Sync runs not finished when this is applied keep what they planned so far: their exports are
-- counted once into a slot of their own, per system and per rule (attribute counts start afresh).
INSERT INTO "breaker_tally" (run_id, scope_key, slot, connected_system_id, creates, updates, deletes)
SELECT p.planning_run_id, s.scope_key, 'before-upgrade', p.connected_system_id,
       count(*) FILTER (WHERE p.change_type = 'CREATE'), count(*) FILTER (WHERE p.change_type = 'UPDATE'),
       count(*) FILTER (WHERE p.change_type = 'DELETE')
  FROM "pending_export" p JOIN "run" r ON r.id = p.planning_run_id
 CROSS JOIN LATERAL (VALUES ('system:' || p.connected_system_id), ('rule:' || p.sync_rule_id)) s(scope_key)
 WHERE r.status IN ('QUEUED', 'RUNNING', 'CANCELLING', 'PAUSED') AND s.scope_key IS NOT NULL
 GROUP BY p.planning_run_id, s.scope_key, p.connected_system_id;
