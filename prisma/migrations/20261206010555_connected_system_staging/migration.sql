-- AlterTable
ALTER TABLE "connected_system" ADD COLUMN     "staging" BOOLEAN NOT NULL DEFAULT false;






