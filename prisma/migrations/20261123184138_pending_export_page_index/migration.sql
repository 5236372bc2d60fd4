-- CreateIndex
CREATE INDEX "pending_export_connected_system_id_status_id_idx" ON "pending_export"("connected_system_id", "status", "id");
