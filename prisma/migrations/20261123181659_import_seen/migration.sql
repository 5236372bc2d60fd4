-- CreateTable
CREATE TABLE "import_seen" (
    "run_id" UUID NOT NULL,
    "connector_space_object_id" UUID NOT NULL,

    CONSTRAINT "import_seen_pkey" PRIMARY KEY ("run_id","connector_space_object_id")
);
