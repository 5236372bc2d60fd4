-- An identity's object in one system, found by one index: with only (metaverse_object_id), the
-- planner, on estimates older than a bulk import, ANDed it with the system's whole id index
-- (connector_space_object_connected_system_id_id_idx) for every identity a reference names.
DROP INDEX "connector_space_object_metaverse_object_id_idx";

CREATE INDEX "connector_space_object_identity_system_idx" ON "connector_space_object"("metaverse_object_id", "connected_system_id") WHERE (metaverse_object_id IS NOT NULL);
