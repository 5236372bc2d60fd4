-- CreateIndex
CREATE INDEX "pending_export_open_claim_order_idx" ON "pending_export"("connected_system_id", "change_type", "awaiting_reference", "created_at", "id") WHERE (status = ANY (ARRAY['PENDING'::pending_export_status, 'FAILED'::pending_export_status, 'EXECUTING'::pending_export_status]));

