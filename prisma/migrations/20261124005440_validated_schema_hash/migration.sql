-- AlterTable
ALTER TABLE "connected_system" ADD COLUMN     "validated_schema_hash" TEXT;

