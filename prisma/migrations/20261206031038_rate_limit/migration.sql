-- AlterTable
ALTER TABLE "connected_system" ADD COLUMN     "rate_limit" JSONB;

-- CreateTable
CREATE TABLE "rate_limit_bucket" (
    "connected_system_id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "tokens" DOUBLE PRECISION NOT NULL,
    "updated_at" TIMESTAMPTZ(6) NOT NULL,
    "blocked_until" TIMESTAMPTZ(6),

    CONSTRAINT "rate_limit_bucket_pkey" PRIMARY KEY ("connected_system_id","kind")
);

-- AddForeignKey
ALTER TABLE "rate_limit_bucket" ADD CONSTRAINT "rate_limit_bucket_connected_system_id_fkey" FOREIGN KEY ("connected_system_id") REFERENCES "connected_system"("id") ON DELETE CASCADE ON UPDATE CASCADE;






