ALTER TABLE "connector_space_object" ADD CONSTRAINT "connector_space_object_metaverse_object_id_fkey" FOREIGN KEY ("metaverse_object_id") REFERENCES "metaverse_object"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "pending_export" ADD CONSTRAINT "pending_export_connector_space_object_id_fkey" FOREIGN KEY ("connector_space_object_id") REFERENCES "connector_space_object"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "pending_export" ADD CONSTRAINT "pending_export_metaverse_object_id_fkey" FOREIGN KEY ("metaverse_object_id") REFERENCES "metaverse_object"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "pending_export" ADD CONSTRAINT "pending_export_sync_rule_id_fkey" FOREIGN KEY ("sync_rule_id") REFERENCES "sync_rule"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "pending_export" ADD CONSTRAINT "pending_export_planning_run_id_fkey" FOREIGN KEY ("planning_run_id") REFERENCES "run"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "pending_export" ADD CONSTRAINT "pending_export_export_run_id_fkey" FOREIGN KEY ("export_run_id") REFERENCES "run"("id") ON DELETE SET NULL ON UPDATE CASCADE;
