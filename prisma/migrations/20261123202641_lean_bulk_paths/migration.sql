-- DropForeignKey
ALTER TABLE "connector_space_object" DROP CONSTRAINT "connector_space_object_connected_system_id_fkey";

-- DropForeignKey
ALTER TABLE "cso_change" DROP CONSTRAINT "cso_change_connected_system_id_fkey";

-- DropForeignKey
ALTER TABLE "metaverse_key" DROP CONSTRAINT "metaverse_key_metaverse_object_id_fkey";

-- DropForeignKey
ALTER TABLE "run_change" DROP CONSTRAINT "run_change_run_id_fkey";

-- DropIndex
DROP INDEX "connector_space_object_connected_system_id_distinguished_na_idx";

-- DropIndex
DROP INDEX "connector_space_object_connected_system_id_status_idx";

-- DropIndex
DROP INDEX "connector_space_object_metaverse_object_id_idx";

-- DropIndex
DROP INDEX "metaverse_key_metaverse_object_id_attribute_value_key";

-- DropIndex
DROP INDEX "metaverse_object_deletion_due_at_idx";

-- DropIndex
DROP INDEX "run_change_connector_space_object_id_id_idx";

-- DropIndex
DROP INDEX "run_change_metaverse_object_id_id_idx";

-- AlterTable: queued changes are kept, one object per row as before.
ALTER TABLE "cso_change" ADD COLUMN     "connector_space_object_ids" UUID[];
UPDATE "cso_change" SET "connector_space_object_ids" = ARRAY["connector_space_object_id"];
ALTER TABLE "cso_change" DROP COLUMN "connector_space_object_id";

-- AlterTable
ALTER TABLE "metaverse_key" DROP CONSTRAINT "metaverse_key_pkey",
DROP COLUMN "id",
ADD CONSTRAINT "metaverse_key_pkey" PRIMARY KEY ("metaverse_object_id", "attribute", "value");

-- CreateIndex
CREATE INDEX "connector_space_object_metaverse_object_id_idx" ON "connector_space_object"("metaverse_object_id") WHERE (metaverse_object_id IS NOT NULL);

-- CreateIndex
CREATE INDEX "connector_space_object_connected_system_id_distinguished_na_idx" ON "connector_space_object"("connected_system_id", "distinguished_name") WHERE (distinguished_name IS NOT NULL);

-- CreateIndex
CREATE INDEX "metaverse_object_deletion_due_at_idx" ON "metaverse_object"("deletion_due_at") WHERE (deletion_due_at IS NOT NULL);

-- CreateIndex
CREATE INDEX "run_change_metaverse_object_id_id_idx" ON "run_change"("metaverse_object_id", "id") WHERE (metaverse_object_id IS NOT NULL);

-- CreateIndex
CREATE INDEX "run_change_connector_space_object_id_id_idx" ON "run_change"("connector_space_object_id", "id") WHERE (connector_space_object_id IS NOT NULL);
