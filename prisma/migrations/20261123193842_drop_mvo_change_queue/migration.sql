-- DropTable
DROP TABLE "mvo_change";
