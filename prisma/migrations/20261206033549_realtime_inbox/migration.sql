-- AlterEnum
ALTER TYPE "run_profile" ADD VALUE 'REALTIME';

-- AlterTable
ALTER TABLE "connected_system" ADD COLUMN     "realtime" JSONB,
ADD COLUMN     "webhook_secret" TEXT;

-- CreateTable
CREATE TABLE "inbox_entry" (
    "id" BIGSERIAL NOT NULL,
    "connected_system_id" UUID NOT NULL,
    "op" TEXT NOT NULL,
    "object_type" TEXT NOT NULL,
    "anchor" TEXT NOT NULL,
    "attributes" JSONB,
    "key" TEXT NOT NULL,
    "client_key" BOOLEAN NOT NULL DEFAULT false,
    "received_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "applied_run_id" UUID,
    "applied_at" TIMESTAMPTZ(6),

    CONSTRAINT "inbox_entry_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "inbox_entry_waiting_idx" ON "inbox_entry"("connected_system_id", "id") WHERE (applied_at IS NULL);

-- CreateIndex
CREATE UNIQUE INDEX "inbox_entry_client_key_key" ON "inbox_entry"("connected_system_id", "key") WHERE (client_key);

-- CreateIndex
CREATE UNIQUE INDEX "inbox_entry_waiting_key_key" ON "inbox_entry"("connected_system_id", "key") WHERE ((applied_at IS NULL) AND (NOT client_key));







-- AddForeignKey
ALTER TABLE "inbox_entry" ADD CONSTRAINT "inbox_entry_connected_system_id_fkey" FOREIGN KEY ("connected_system_id") REFERENCES "connected_system"("id") ON DELETE CASCADE ON UPDATE CASCADE;
