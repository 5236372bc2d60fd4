-- DropForeignKey
ALTER TABLE "run_change" DROP CONSTRAINT "run_change_connector_space_object_id_fkey";

-- DropForeignKey
ALTER TABLE "run_change" DROP CONSTRAINT "run_change_metaverse_object_id_fkey";
