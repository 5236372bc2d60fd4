-- AlterTable
ALTER TABLE "inbox_entry" ADD COLUMN     "dn" TEXT;

-- CreateTable
CREATE TABLE "watcher_state" (
    "connected_system_id" UUID NOT NULL,
    "position" JSONB NOT NULL,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "watcher_state_pkey" PRIMARY KEY ("connected_system_id")
);







-- AddForeignKey
ALTER TABLE "watcher_state" ADD CONSTRAINT "watcher_state_connected_system_id_fkey" FOREIGN KEY ("connected_system_id") REFERENCES "connected_system"("id") ON DELETE CASCADE ON UPDATE CASCADE;
