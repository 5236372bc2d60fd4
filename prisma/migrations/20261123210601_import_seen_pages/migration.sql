-- CreateTable
CREATE TABLE "import_seen_page" (
    "run_id" UUID NOT NULL,
    "page" INTEGER NOT NULL,
    "connector_space_object_ids" UUID[],

    CONSTRAINT "import_seen_page_pkey" PRIMARY KEY ("run_id","page")
);

-- An import in progress keeps what it has seen.
INSERT INTO "import_seen_page" ("run_id", "page", "connector_space_object_ids")
SELECT "run_id", 0, array_agg("connector_space_object_id") FROM "import_seen" GROUP BY "run_id";

-- DropTable
DROP TABLE "import_seen";

-- Arrays of random ids do not compress: stored out of line without trying (pglz cost CPU per batch).
ALTER TABLE "import_seen_page" ALTER COLUMN "connector_space_object_ids" SET STORAGE EXTERNAL;
ALTER TABLE "cso_change" ALTER COLUMN "connector_space_object_ids" SET STORAGE EXTERNAL;
