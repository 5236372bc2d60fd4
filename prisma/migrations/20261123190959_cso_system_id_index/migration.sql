-- CreateIndex
CREATE INDEX "connector_space_object_connected_system_id_id_idx" ON "connector_space_object"("connected_system_id", "id");
