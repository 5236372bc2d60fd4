-- AlterTable
ALTER TABLE "connected_system" ADD COLUMN     "breaker" JSONB;

-- AlterTable
ALTER TABLE "sync_rule" ADD COLUMN     "breaker" JSONB;

-- CreateTable
CREATE TABLE "breaker_hold" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "run_id" UUID NOT NULL,
    "connected_system_id" UUID NOT NULL,
    "sync_rule_id" UUID,
    "scope_key" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "figures" JSONB NOT NULL,
    "crossings" JSONB NOT NULL,
    "is_default" BOOLEAN NOT NULL DEFAULT false,
    "held" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "breaker_hold_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "breaker_hold_connected_system_id_created_at_idx" ON "breaker_hold"("connected_system_id", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "breaker_hold_run_id_connected_system_id_scope_key_key" ON "breaker_hold"("run_id", "connected_system_id", "scope_key");







-- AddForeignKey
ALTER TABLE "breaker_hold" ADD CONSTRAINT "breaker_hold_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "breaker_hold" ADD CONSTRAINT "breaker_hold_connected_system_id_fkey" FOREIGN KEY ("connected_system_id") REFERENCES "connected_system"("id") ON DELETE CASCADE ON UPDATE CASCADE;
