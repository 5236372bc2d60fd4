-- AlterEnum
ALTER TYPE "run_status" ADD VALUE 'PAUSED';

-- AlterTable
ALTER TABLE "run" ADD COLUMN     "pause_requested_at" TIMESTAMP(3);






