import {
  ApiRole,
  AttributeType,
  ConnectorKind,
  DeprovisionAction,
  JoinType,
  PendingExportChangeType,
  PendingExportStatus,
  RunProfile,
  RunStatus,
  SyncDirection,
} from "../generated/prisma/enums.ts";
import { builder } from "./builder.ts";

// The database enums are the GraphQL enums: one source of truth for both.
export const ConnectorKindEnum = builder.enumType(ConnectorKind, { name: "ConnectorKind" });
export const SyncDirectionEnum = builder.enumType(SyncDirection, { name: "SyncDirection" });
export const RunProfileEnum = builder.enumType(RunProfile, { name: "RunProfile" });
export const RunStatusEnum = builder.enumType(RunStatus, { name: "RunStatus" });
export const JoinTypeEnum = builder.enumType(JoinType, { name: "JoinType" });
export const DeprovisionActionEnum = builder.enumType(DeprovisionAction, { name: "DeprovisionAction" });
export const PendingExportChangeTypeEnum = builder.enumType(PendingExportChangeType, { name: "PendingExportChangeType" });
export const PendingExportStatusEnum = builder.enumType(PendingExportStatus, { name: "PendingExportStatus" });
export const AttributeTypeEnum = builder.enumType(AttributeType, { name: "AttributeType" });
export const ApiRoleEnum = builder.enumType(ApiRole, { name: "ApiRole" });
