-- Exports in flight (EXECUTING) leave the claim walk's index: every claim short of its limit
-- walked past all of them (a resumed run gives its own back instead, releaseRunExports).
DROP INDEX "pending_export_open_claim_order_idx";

CREATE INDEX "pending_export_open_claim_order_idx" ON "pending_export"("connected_system_id", "change_type", "awaiting_reference", "created_at", "id") WHERE (status = ANY (ARRAY['PENDING'::pending_export_status, 'FAILED'::pending_export_status]));
