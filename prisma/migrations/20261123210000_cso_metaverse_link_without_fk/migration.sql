-- The link from connector space to the metaverse keeps its Prisma relation, which the API reads
-- through, but not its foreign key: see schema.prisma and test/integration/schema-drift.test.ts.
ALTER TABLE "connector_space_object" DROP CONSTRAINT "connector_space_object_metaverse_object_id_fkey";
