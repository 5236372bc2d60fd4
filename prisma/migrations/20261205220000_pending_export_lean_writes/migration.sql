-- A full sync with export planning bulk-loads one pending export per identity and target. Per
-- row, five foreign-key checks (each a key-share lock on the row referenced) and eight indexes
-- cost about half of that load (100,000 identities to two targets: COPY 15.7 s -> 8.1 s without
-- them). The links keep their Prisma relations, which the API reads through (see
-- prisma/allowed-drift.sql), and what ON DELETE SET NULL did is done once per statement below.

-- DropForeignKey
ALTER TABLE "pending_export" DROP CONSTRAINT "pending_export_connector_space_object_id_fkey";

-- DropForeignKey
ALTER TABLE "pending_export" DROP CONSTRAINT "pending_export_metaverse_object_id_fkey";

-- DropForeignKey
ALTER TABLE "pending_export" DROP CONSTRAINT "pending_export_sync_rule_id_fkey";

-- DropForeignKey
ALTER TABLE "pending_export" DROP CONSTRAINT "pending_export_planning_run_id_fkey";

-- DropForeignKey
ALTER TABLE "pending_export" DROP CONSTRAINT "pending_export_export_run_id_fkey";

-- DropIndex: claims walk pending_export_open_claim_order_idx, (connected_system_id, status, id) serves the rest.
DROP INDEX "pending_export_connected_system_id_status_next_retry_at_idx";

-- DropIndex
DROP INDEX "pending_export_export_run_id_idx";

-- CreateIndex: only exports a run has claimed have an export run, planning adds no entry
CREATE INDEX "pending_export_export_run_id_idx" ON "pending_export"("export_run_id") WHERE (export_run_id IS NOT NULL);

-- Deleting a connector space object, identity, sync rule or run unlinks its pending exports, as
-- the ON DELETE SET NULL of the foreign keys did, but once per statement instead of once per row.
-- (Function bodies are plain strings with \073 for the semicolon: the migration runner splits
-- scripts at every semicolon, even inside dollar quotes.)

CREATE FUNCTION pending_export_unlink_objects() RETURNS trigger LANGUAGE plpgsql AS
  E'BEGIN UPDATE pending_export SET connector_space_object_id = NULL WHERE connector_space_object_id IN (SELECT id FROM gone)\073 RETURN NULL\073 END';

CREATE TRIGGER pending_export_unlink_objects AFTER DELETE ON connector_space_object
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION pending_export_unlink_objects();

CREATE FUNCTION pending_export_unlink_identities() RETURNS trigger LANGUAGE plpgsql AS
  E'BEGIN UPDATE pending_export SET metaverse_object_id = NULL WHERE metaverse_object_id IN (SELECT id FROM gone)\073 RETURN NULL\073 END';

CREATE TRIGGER pending_export_unlink_identities AFTER DELETE ON metaverse_object
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION pending_export_unlink_identities();

CREATE FUNCTION pending_export_unlink_rules() RETURNS trigger LANGUAGE plpgsql AS
  E'BEGIN UPDATE pending_export SET sync_rule_id = NULL WHERE sync_rule_id IN (SELECT id FROM gone)\073 RETURN NULL\073 END';

CREATE TRIGGER pending_export_unlink_rules AFTER DELETE ON sync_rule
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION pending_export_unlink_rules();

CREATE FUNCTION pending_export_unlink_runs() RETURNS trigger LANGUAGE plpgsql AS
  E'BEGIN UPDATE pending_export SET planning_run_id = NULL WHERE planning_run_id IN (SELECT id FROM gone)\073 UPDATE pending_export SET export_run_id = NULL WHERE export_run_id IN (SELECT id FROM gone)\073 RETURN NULL\073 END';

CREATE TRIGGER pending_export_unlink_runs AFTER DELETE ON run
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION pending_export_unlink_runs();
