-- AlterEnum
ALTER TYPE "connector_kind" ADD VALUE 'SCIM_INBOUND';
