-- conflict_strategy becomes a closed set: a value outside it used to be resolved as precedence
-- (the engine's fallback), which is what NULL means, so such rows become NULL and the rest keep
-- their strategy.

-- CreateEnum
CREATE TYPE "conflict_strategy" AS ENUM ('newest_wins', 'source_wins', 'target_wins', 'precedence', 'manual');

-- Rows outside the set
UPDATE "sync_rule" SET "conflict_strategy" = NULL
 WHERE "conflict_strategy" NOT IN ('newest_wins', 'source_wins', 'target_wins', 'precedence', 'manual');

-- AlterTable
ALTER TABLE "sync_rule" ALTER COLUMN "conflict_strategy" TYPE "conflict_strategy" USING "conflict_strategy"::"conflict_strategy";
