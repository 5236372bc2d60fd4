-- The unlink triggers compared each pending export with the deleted rows (IN over the
-- transition table), which PostgreSQL ran as a scan of every pending export: 176 ms to delete
-- the objects of 333 leavers at 100,000 exports. An array of the deleted ids makes it one index probe
-- per deleted row. (Bodies are plain strings with \073 for the semicolon, as in 20261205220000.)

CREATE OR REPLACE FUNCTION pending_export_unlink_objects() RETURNS trigger LANGUAGE plpgsql AS
  E'BEGIN UPDATE pending_export SET connector_space_object_id = NULL WHERE connector_space_object_id = ANY (ARRAY(SELECT id FROM gone))\073 RETURN NULL\073 END';

CREATE OR REPLACE FUNCTION pending_export_unlink_identities() RETURNS trigger LANGUAGE plpgsql AS
  E'BEGIN UPDATE pending_export SET metaverse_object_id = NULL WHERE metaverse_object_id = ANY (ARRAY(SELECT id FROM gone))\073 RETURN NULL\073 END';

CREATE OR REPLACE FUNCTION pending_export_unlink_rules() RETURNS trigger LANGUAGE plpgsql AS
  E'BEGIN UPDATE pending_export SET sync_rule_id = NULL WHERE sync_rule_id = ANY (ARRAY(SELECT id FROM gone))\073 RETURN NULL\073 END';

CREATE OR REPLACE FUNCTION pending_export_unlink_runs() RETURNS trigger LANGUAGE plpgsql AS
  E'BEGIN UPDATE pending_export SET planning_run_id = NULL WHERE planning_run_id = ANY (ARRAY(SELECT id FROM gone))\073 UPDATE pending_export SET export_run_id = NULL WHERE export_run_id = ANY (ARRAY(SELECT id FROM gone))\073 RETURN NULL\073 END';
