-- AlterTable: the identity content hash was written and never read.
ALTER TABLE "metaverse_object" DROP COLUMN "content_hash";
