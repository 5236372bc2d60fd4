-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "connector_kind" AS ENUM ('CSV', 'LDAP', 'SQL', 'SCIM');

-- CreateEnum
CREATE TYPE "sync_direction" AS ENUM ('INBOUND', 'OUTBOUND');

-- CreateEnum
CREATE TYPE "run_profile" AS ENUM ('FULL_IMPORT', 'DELTA_IMPORT', 'FULL_SYNC', 'DELTA_SYNC', 'EXPORT');

-- CreateEnum
CREATE TYPE "run_status" AS ENUM ('QUEUED', 'RUNNING', 'COMPLETED', 'PARTIAL', 'FAILED', 'CANCELLING', 'CANCELLED', 'BLOCKED');

-- CreateEnum
CREATE TYPE "join_type" AS ENUM ('PROJECTED', 'JOINED', 'PROVISIONED');

-- CreateEnum
CREATE TYPE "cso_status" AS ENUM ('NORMAL', 'OBSOLETE', 'PENDING_PROVISIONING');

-- CreateEnum
CREATE TYPE "mvo_status" AS ENUM ('ACTIVE', 'PENDING_DELETION', 'DELETED');

-- CreateEnum
CREATE TYPE "deprovision_action" AS ENUM ('DELETE', 'DISABLE_THEN_DELETE', 'DISCONNECT');

-- CreateEnum
CREATE TYPE "mvo_deletion_rule" AS ENUM ('MANUAL', 'WHEN_LAST_CONNECTOR_DISCONNECTS', 'WHEN_AUTHORITATIVE_SOURCE_DISCONNECTS');

-- CreateEnum
CREATE TYPE "pending_export_change_type" AS ENUM ('CREATE', 'UPDATE', 'DELETE');

-- CreateEnum
CREATE TYPE "pending_export_status" AS ENUM ('AWAITING_APPROVAL', 'PENDING', 'EXECUTING', 'EXPORTED', 'FAILED', 'ERROR', 'CONFIRMED', 'REJECTED', 'CANCELLED');

-- CreateEnum
CREATE TYPE "attribute_type" AS ENUM ('STRING', 'INTEGER', 'BOOLEAN', 'DATETIME', 'BINARY', 'REFERENCE', 'GUID');

-- CreateEnum
CREATE TYPE "api_role" AS ENUM ('READER', 'OPERATOR', 'ADMIN');

-- CreateTable
CREATE TABLE "connected_system" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "name" TEXT NOT NULL,
    "kind" "connector_kind" NOT NULL,
    "description" TEXT,
    "current_settings_version" INTEGER NOT NULL DEFAULT 1,
    "delete_threshold" INTEGER,
    "schema_discovered_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "connected_system_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "connection_settings" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "connected_system_id" UUID NOT NULL,
    "version" INTEGER NOT NULL,
    "config" JSONB NOT NULL,
    "secrets" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "connection_settings_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "object_type" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "connected_system_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "anchor_attribute" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "object_type_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "attribute_definition" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "object_type_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "type" "attribute_type" NOT NULL DEFAULT 'STRING',
    "multi_valued" BOOLEAN NOT NULL DEFAULT false,
    "required" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "attribute_definition_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "connector_import_state" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "connected_system_id" UUID NOT NULL,
    "object_type" TEXT NOT NULL DEFAULT '',
    "watermark" JSONB,
    "last_full_import_at" TIMESTAMP(3),
    "last_delta_import_at" TIMESTAMP(3),
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "connector_import_state_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "connector_space_object" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "connected_system_id" UUID NOT NULL,
    "object_type" TEXT NOT NULL,
    "anchor" TEXT NOT NULL,
    "distinguished_name" TEXT,
    "attributes" JSONB NOT NULL DEFAULT '{}',
    "content_hash" TEXT NOT NULL,
    "status" "cso_status" NOT NULL DEFAULT 'NORMAL',
    "join_type" "join_type",
    "metaverse_object_id" UUID,
    "joined_at" TIMESTAMP(3),
    "last_import_run_id" UUID,
    "imported_at" TIMESTAMP(3),
    "obsoleted_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "connector_space_object_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "metaverse_object" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "type" TEXT NOT NULL,
    "display_name" TEXT,
    "attributes" JSONB NOT NULL DEFAULT '{}',
    "contributions" JSONB NOT NULL DEFAULT '{}',
    "content_hash" TEXT NOT NULL DEFAULT '',
    "status" "mvo_status" NOT NULL DEFAULT 'ACTIVE',
    "deletion_due_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "metaverse_object_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "metaverse_key" (
    "id" BIGSERIAL NOT NULL,
    "metaverse_object_id" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "attribute" TEXT NOT NULL,
    "value" TEXT NOT NULL,

    CONSTRAINT "metaverse_key_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "sync_rule" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "name" TEXT NOT NULL,
    "connected_system_id" UUID NOT NULL,
    "direction" "sync_direction" NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "object_type" TEXT NOT NULL,
    "metaverse_object_type" TEXT NOT NULL,
    "scope" TEXT,
    "join_rules" JSONB NOT NULL DEFAULT '[]',
    "project_to_metaverse" BOOLEAN NOT NULL DEFAULT false,
    "provision_to_connector" BOOLEAN NOT NULL DEFAULT false,
    "deprovision" "deprovision_action",
    "deprovision_grace_seconds" INTEGER,
    "disable_flow" JSONB,
    "precedence" INTEGER NOT NULL DEFAULT 100,
    "attribute_flows" JSONB NOT NULL DEFAULT '[]',
    "mvo_deletion_rule" "mvo_deletion_rule" NOT NULL DEFAULT 'MANUAL',
    "mvo_deletion_grace_seconds" INTEGER NOT NULL DEFAULT 0,
    "deduplication" JSONB,
    "conflict_strategy" TEXT,
    "require_approval_for_create" BOOLEAN NOT NULL DEFAULT false,
    "require_approval_for_delete" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "sync_rule_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "run" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "operation" TEXT NOT NULL,
    "profile" "run_profile" NOT NULL,
    "connected_system_id" UUID NOT NULL,
    "connection_settings_id" UUID NOT NULL,
    "scope_key" TEXT NOT NULL,
    "scopes" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "status" "run_status" NOT NULL DEFAULT 'QUEUED',
    "dry_run" BOOLEAN NOT NULL DEFAULT false,
    "trigger" TEXT NOT NULL DEFAULT 'API',
    "schedule_id" UUID,
    "reason_code" TEXT,
    "reason" TEXT,
    "next_steps" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "error" TEXT,
    "job_id" TEXT,
    "worker_id" TEXT,
    "fetched" INTEGER NOT NULL DEFAULT 0,
    "created" INTEGER NOT NULL DEFAULT 0,
    "updated" INTEGER NOT NULL DEFAULT 0,
    "deleted" INTEGER NOT NULL DEFAULT 0,
    "unchanged" INTEGER NOT NULL DEFAULT 0,
    "failed" INTEGER NOT NULL DEFAULT 0,
    "exports_queued" INTEGER NOT NULL DEFAULT 0,
    "phase" TEXT NOT NULL DEFAULT 'queued',
    "processed" INTEGER NOT NULL DEFAULT 0,
    "total" INTEGER,
    "batch" INTEGER NOT NULL DEFAULT 0,
    "progress_updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "checkpoint" JSONB,
    "heartbeat_at" TIMESTAMP(3),
    "attempt" INTEGER NOT NULL DEFAULT 0,
    "max_attempts" INTEGER NOT NULL DEFAULT 3,
    "cancel_requested_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMP(3),
    "finished_at" TIMESTAMP(3),

    CONSTRAINT "run_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "run_event" (
    "id" BIGSERIAL NOT NULL,
    "run_id" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "data" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "run_event_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "run_change" (
    "id" BIGSERIAL NOT NULL,
    "run_id" UUID NOT NULL,
    "change_type" TEXT NOT NULL,
    "connector_space_object_id" UUID,
    "metaverse_object_id" UUID,
    "pending_export_id" UUID,
    "anchor" TEXT,
    "attribute_changes" JSONB,
    "sync_rule_id" UUID,
    "source_system_id" UUID,
    "location" TEXT,
    "error_code" TEXT,
    "message" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "run_change_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "cso_change" (
    "id" BIGSERIAL NOT NULL,
    "connected_system_id" UUID NOT NULL,
    "connector_space_object_id" UUID NOT NULL,
    "run_id" UUID,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "cso_change_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "mvo_change" (
    "id" BIGSERIAL NOT NULL,
    "metaverse_object_id" UUID NOT NULL,
    "run_id" UUID,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "mvo_change_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "pending_export" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "connected_system_id" UUID NOT NULL,
    "connector_space_object_id" UUID,
    "metaverse_object_id" UUID,
    "sync_rule_id" UUID,
    "change_type" "pending_export_change_type" NOT NULL,
    "status" "pending_export_status" NOT NULL DEFAULT 'PENDING',
    "attribute_changes" JSONB NOT NULL DEFAULT '[]',
    "before_values" JSONB,
    "awaiting_reference" BOOLEAN NOT NULL DEFAULT false,
    "error_count" INTEGER NOT NULL DEFAULT 0,
    "max_retries" INTEGER NOT NULL DEFAULT 5,
    "next_retry_at" TIMESTAMP(3),
    "last_error" TEXT,
    "last_error_code" TEXT,
    "not_before" TIMESTAMP(3),
    "requires_approval" BOOLEAN NOT NULL DEFAULT false,
    "approval_reason" TEXT,
    "approved_at" TIMESTAMP(3),
    "approved_by" TEXT,
    "rejected_at" TIMESTAMP(3),
    "rejected_by" TEXT,
    "planning_run_id" UUID,
    "export_run_id" UUID,
    "undo_of_run_id" UUID,
    "exported_at" TIMESTAMP(3),
    "confirmed_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "pending_export_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "schedule" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "name" TEXT NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "cron" TEXT,
    "interval_seconds" INTEGER,
    "steps" JSONB NOT NULL DEFAULT '[]',
    "next_fire_at" TIMESTAMP(3),
    "last_fired_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "schedule_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "schedule_execution" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "schedule_id" UUID NOT NULL,
    "step_index" INTEGER NOT NULL DEFAULT 0,
    "run_id" UUID,
    "status" TEXT NOT NULL DEFAULT 'RUNNING',
    "outcome" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMP(3),

    CONSTRAINT "schedule_execution_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_key" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "name" TEXT NOT NULL,
    "role" "api_role" NOT NULL,
    "key_hash" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMP(3),
    "last_used_at" TIMESTAMP(3),

    CONSTRAINT "api_key_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "connected_system_name_key" ON "connected_system"("name");

-- CreateIndex
CREATE UNIQUE INDEX "connection_settings_connected_system_id_version_key" ON "connection_settings"("connected_system_id", "version");

-- CreateIndex
CREATE UNIQUE INDEX "object_type_connected_system_id_name_key" ON "object_type"("connected_system_id", "name");

-- CreateIndex
CREATE UNIQUE INDEX "attribute_definition_object_type_id_name_key" ON "attribute_definition"("object_type_id", "name");

-- CreateIndex
CREATE UNIQUE INDEX "connector_import_state_connected_system_id_object_type_key" ON "connector_import_state"("connected_system_id", "object_type");

-- CreateIndex
CREATE INDEX "connector_space_object_metaverse_object_id_idx" ON "connector_space_object"("metaverse_object_id");

-- CreateIndex
CREATE INDEX "connector_space_object_connected_system_id_status_idx" ON "connector_space_object"("connected_system_id", "status");

-- CreateIndex
CREATE INDEX "connector_space_object_connected_system_id_distinguished_na_idx" ON "connector_space_object"("connected_system_id", "distinguished_name");

-- CreateIndex
CREATE UNIQUE INDEX "connector_space_object_connected_system_id_object_type_anch_key" ON "connector_space_object"("connected_system_id", "object_type", "anchor");

-- CreateIndex
CREATE INDEX "metaverse_object_type_id_idx" ON "metaverse_object"("type", "id");

-- CreateIndex
CREATE INDEX "metaverse_object_deletion_due_at_idx" ON "metaverse_object"("deletion_due_at");

-- CreateIndex
CREATE INDEX "metaverse_key_type_attribute_value_idx" ON "metaverse_key"("type", "attribute", "value");

-- CreateIndex
CREATE UNIQUE INDEX "metaverse_key_metaverse_object_id_attribute_value_key" ON "metaverse_key"("metaverse_object_id", "attribute", "value");

-- CreateIndex
CREATE UNIQUE INDEX "sync_rule_name_key" ON "sync_rule"("name");

-- CreateIndex
CREATE INDEX "sync_rule_connected_system_id_direction_idx" ON "sync_rule"("connected_system_id", "direction");

-- CreateIndex
CREATE INDEX "run_connected_system_id_created_at_idx" ON "run"("connected_system_id", "created_at");

-- CreateIndex
CREATE INDEX "run_status_heartbeat_at_idx" ON "run"("status", "heartbeat_at");

-- CreateIndex
CREATE INDEX "run_scope_key_status_idx" ON "run"("scope_key", "status");

-- CreateIndex
CREATE INDEX "run_event_run_id_id_idx" ON "run_event"("run_id", "id");

-- CreateIndex
CREATE INDEX "run_change_run_id_id_idx" ON "run_change"("run_id", "id");

-- CreateIndex
CREATE INDEX "run_change_metaverse_object_id_id_idx" ON "run_change"("metaverse_object_id", "id");

-- CreateIndex
CREATE INDEX "run_change_connector_space_object_id_id_idx" ON "run_change"("connector_space_object_id", "id");

-- CreateIndex
CREATE INDEX "cso_change_connected_system_id_id_idx" ON "cso_change"("connected_system_id", "id");

-- CreateIndex
CREATE INDEX "mvo_change_metaverse_object_id_idx" ON "mvo_change"("metaverse_object_id");

-- CreateIndex
CREATE INDEX "pending_export_connected_system_id_status_next_retry_at_idx" ON "pending_export"("connected_system_id", "status", "next_retry_at");

-- CreateIndex
CREATE INDEX "pending_export_connector_space_object_id_status_idx" ON "pending_export"("connector_space_object_id", "status");

-- CreateIndex
CREATE INDEX "pending_export_status_id_idx" ON "pending_export"("status", "id");

-- CreateIndex
CREATE INDEX "pending_export_planning_run_id_idx" ON "pending_export"("planning_run_id");

-- CreateIndex
CREATE INDEX "pending_export_export_run_id_idx" ON "pending_export"("export_run_id");

-- CreateIndex
CREATE UNIQUE INDEX "schedule_name_key" ON "schedule"("name");

-- CreateIndex
CREATE INDEX "schedule_enabled_next_fire_at_idx" ON "schedule"("enabled", "next_fire_at");

-- CreateIndex
CREATE INDEX "schedule_execution_schedule_id_status_idx" ON "schedule_execution"("schedule_id", "status");

-- CreateIndex
CREATE UNIQUE INDEX "api_key_key_hash_key" ON "api_key"("key_hash");

-- AddForeignKey
ALTER TABLE "connection_settings" ADD CONSTRAINT "connection_settings_connected_system_id_fkey" FOREIGN KEY ("connected_system_id") REFERENCES "connected_system"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "object_type" ADD CONSTRAINT "object_type_connected_system_id_fkey" FOREIGN KEY ("connected_system_id") REFERENCES "connected_system"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "attribute_definition" ADD CONSTRAINT "attribute_definition_object_type_id_fkey" FOREIGN KEY ("object_type_id") REFERENCES "object_type"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "connector_import_state" ADD CONSTRAINT "connector_import_state_connected_system_id_fkey" FOREIGN KEY ("connected_system_id") REFERENCES "connected_system"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "connector_space_object" ADD CONSTRAINT "connector_space_object_connected_system_id_fkey" FOREIGN KEY ("connected_system_id") REFERENCES "connected_system"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "connector_space_object" ADD CONSTRAINT "connector_space_object_metaverse_object_id_fkey" FOREIGN KEY ("metaverse_object_id") REFERENCES "metaverse_object"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "metaverse_key" ADD CONSTRAINT "metaverse_key_metaverse_object_id_fkey" FOREIGN KEY ("metaverse_object_id") REFERENCES "metaverse_object"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "sync_rule" ADD CONSTRAINT "sync_rule_connected_system_id_fkey" FOREIGN KEY ("connected_system_id") REFERENCES "connected_system"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "run" ADD CONSTRAINT "run_connected_system_id_fkey" FOREIGN KEY ("connected_system_id") REFERENCES "connected_system"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "run" ADD CONSTRAINT "run_connection_settings_id_fkey" FOREIGN KEY ("connection_settings_id") REFERENCES "connection_settings"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "run" ADD CONSTRAINT "run_schedule_id_fkey" FOREIGN KEY ("schedule_id") REFERENCES "schedule"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "run_event" ADD CONSTRAINT "run_event_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "run_change" ADD CONSTRAINT "run_change_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "run_change" ADD CONSTRAINT "run_change_connector_space_object_id_fkey" FOREIGN KEY ("connector_space_object_id") REFERENCES "connector_space_object"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "run_change" ADD CONSTRAINT "run_change_metaverse_object_id_fkey" FOREIGN KEY ("metaverse_object_id") REFERENCES "metaverse_object"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "cso_change" ADD CONSTRAINT "cso_change_connected_system_id_fkey" FOREIGN KEY ("connected_system_id") REFERENCES "connected_system"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "pending_export" ADD CONSTRAINT "pending_export_connected_system_id_fkey" FOREIGN KEY ("connected_system_id") REFERENCES "connected_system"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "pending_export" ADD CONSTRAINT "pending_export_connector_space_object_id_fkey" FOREIGN KEY ("connector_space_object_id") REFERENCES "connector_space_object"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "pending_export" ADD CONSTRAINT "pending_export_metaverse_object_id_fkey" FOREIGN KEY ("metaverse_object_id") REFERENCES "metaverse_object"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "pending_export" ADD CONSTRAINT "pending_export_sync_rule_id_fkey" FOREIGN KEY ("sync_rule_id") REFERENCES "sync_rule"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "pending_export" ADD CONSTRAINT "pending_export_planning_run_id_fkey" FOREIGN KEY ("planning_run_id") REFERENCES "run"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "pending_export" ADD CONSTRAINT "pending_export_export_run_id_fkey" FOREIGN KEY ("export_run_id") REFERENCES "run"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "schedule_execution" ADD CONSTRAINT "schedule_execution_schedule_id_fkey" FOREIGN KEY ("schedule_id") REFERENCES "schedule"("id") ON DELETE CASCADE ON UPDATE CASCADE;
