import { connectorConfigs } from "../connectors/configs.ts";
import { type Connector, ConnectorError } from "../connectors/connector.ts";
import type { ConnectorFactory } from "../connectors/deps.ts";
import type { ConnectedSystem, PrismaClient } from "../generated/prisma/client.ts";
import type { Logger } from "../logger.ts";
import type { ConnectedSystems } from "../systems/connected-systems.ts";
import { withTimeout } from "../util/timeout.ts";
import type { OperationDefinition } from "./operations.ts";

/** Why a start was refused before anything was queued: stable code, one sentence, what to do. */
export interface PreflightFailure {
  reasonCode:
    | "MISSING_CONFIG"
    | "MISSING_SECRET"
    | "CONNECTION_FAILED"
    | "AUTH_FAILED"
    | "PERMISSION_DENIED"
    | "INVALID_INPUT"
    | "TIMEOUT"
    | "CONNECTOR_UNAVAILABLE"
    | "UNSUPPORTED_OPERATION"
    | "SCHEMA_NOT_DISCOVERED"
    | "NO_SYNC_RULES"
    | "STAGING";
  reason: string;
  nextSteps: string[];
}

export interface PreflightDeps {
  prisma: PrismaClient;
  systems: ConnectedSystems;
  connectorFactory: ConnectorFactory;
  logger: Logger;
  connectionTestTimeoutMs: number;
}

/** Runs the operation's checks in order against the pinned settings; the first failure wins. */
export async function preflight(
  deps: PreflightDeps,
  op: OperationDefinition,
  system: ConnectedSystem,
  settingsId: string,
  dryRun = false,
): Promise<PreflightFailure | null> {
  const checks = new Set(op.preflight);
  const fix = `updateConnectedSystem(id: "${system.id}", input: ...)`;
  // A dry run sends nothing: previewing what staging holds back is what staging is for.
  if (checks.has("staging") && system.staging && !dryRun) return await stagingHold(deps, system);
  let config: Record<string, unknown> = {};
  if (checks.has("config") || checks.has("secrets") || checks.has("connection")) {
    try {
      config = await deps.systems.resolveConfig(settingsId);
    } catch {
      return {
        reasonCode: "MISSING_SECRET",
        reason: `The stored secrets of ${system.name} cannot be decrypted with this server's secret key.`,
        nextSteps: [`Set METASYNC_SECRET_KEY to the key the secrets were saved with, or re-enter them with ${fix}`],
      };
    }
    const failure = checkConfig(system, config, fix);
    if (failure) return failure;
  }
  if (checks.has("connection")) {
    const failure = await checkConnection(deps, op, system, config);
    if (failure) return failure;
  }
  if (checks.has("schema")) {
    const types = await deps.prisma.objectType.count({ where: { connectedSystemId: system.id } });
    if (types === 0)
      return {
        reasonCode: "SCHEMA_NOT_DISCOVERED",
        reason: `The schema of ${system.name} has not been discovered yet.`,
        nextSteps: [`Run refreshSchema(id: "${system.id}") to discover the schema`],
      };
  }
  if (checks.has("syncRules") && op.requiredRuleDirection) {
    const direction = op.requiredRuleDirection;
    const rules = await deps.prisma.syncRule.count({ where: { connectedSystemId: system.id, direction, enabled: true } });
    if (rules === 0)
      return {
        reasonCode: "NO_SYNC_RULES",
        reason: `${system.name} has no enabled ${direction} sync rule, so ${op.type} has nothing to do.`,
        nextSteps: [
          `Create an ${direction} sync rule with createSyncRule(input: { connectedSystemId: "${system.id}", direction: ${direction}, ... })`,
        ],
      };
  }
  return null;
}

async function stagingHold(deps: PreflightDeps, system: ConnectedSystem): Promise<PreflightFailure> {
  const waiting = await deps.prisma.pendingExport.count({
    where: { connectedSystemId: system.id, status: { in: ["PENDING", "FAILED", "AWAITING_APPROVAL"] } },
  });
  return {
    reasonCode: "STAGING",
    reason: `${system.name} is in staging mode: exports are planned and kept for review, never sent (${waiting} waiting).`,
    nextSteps: [
      `Review them with pendingExports(connectedSystemId: "${system.id}") or a dry-run EXPORT`,
      `Turn staging off with updateConnectedSystem(id: "${system.id}", input: { ..., staging: false }), then start EXPORT to send them`,
    ],
  };
}

function checkConfig(system: ConnectedSystem, config: Record<string, unknown>, fix: string): PreflightFailure | null {
  const { schema, secretFields, requiredSecrets } = connectorConfigs[system.kind];
  const missingSecrets = (requiredSecrets?.(config) ?? secretFields).filter(
    (f) => config[f] === undefined || config[f] === null || config[f] === "",
  );
  if (missingSecrets.length)
    return {
      reasonCode: "MISSING_SECRET",
      reason: `${system.name} has no ${missingSecrets.join(", ")} set.`,
      nextSteps: [`Set config.${missingSecrets[0]} with ${fix}`],
    };
  const parsed = schema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = ["config", ...(issue?.path ?? [])].join(".");
    return {
      reasonCode: "MISSING_CONFIG",
      reason: `The configuration of ${system.name} is incomplete: ${path}: ${issue?.message ?? "invalid"}.`,
      nextSteps: [`Set ${path} with ${fix}`],
    };
  }
  return null;
}

async function checkConnection(
  deps: PreflightDeps,
  op: OperationDefinition,
  system: ConnectedSystem,
  config: Record<string, unknown>,
): Promise<PreflightFailure | null> {
  const timeoutMs = deps.connectionTestTimeoutMs;
  // Set as soon as it exists, to be closed whatever happens next (asserted: assigned in a closure).
  let connector = null as Connector | null;
  try {
    // The outer timer guards against a connector that ignores its own timeout.
    const tested = await withTimeout(
      (async () => {
        const created = await deps.connectorFactory(system.kind, config, { logger: deps.logger });
        connector = created;
        await created.testConnection(timeoutMs);
        return created;
      })(),
      timeoutMs + 250,
      () => {
        throw new ConnectorError("TIMEOUT", `no answer within ${timeoutMs} ms`);
      },
    );
    if (op.capability && !tested.capabilities[op.capability])
      return {
        reasonCode: "UNSUPPORTED_OPERATION",
        reason: `The ${system.kind} connector of ${system.name} cannot run ${op.type}.`,
        nextSteps: [`Run a profile the ${system.kind} connector supports (e.g. FULL_IMPORT instead of DELTA_IMPORT)`],
      };
    return null;
  } catch (e) {
    return connectionFailure(system, e, timeoutMs);
  } finally {
    await connector?.close().catch(() => {});
  }
}

function connectionFailure(system: ConnectedSystem, e: unknown, timeoutMs: number): PreflightFailure {
  const message = e instanceof Error ? e.message : String(e);
  const code = e instanceof ConnectorError ? e.code : "CONNECTION_FAILED";
  const where = `updateConnectedSystem(id: "${system.id}", input: ...)`;
  if (code === "AUTH_FAILED")
    return {
      reasonCode: "AUTH_FAILED",
      reason: `${system.name} refused the configured credentials: ${message}`,
      nextSteps: [
        `Check the account and secret in the connection settings and save them with ${where}`,
        `Then run testConnection(id: "${system.id}")`,
      ],
    };
  if (code === "PERMISSION_DENIED")
    return {
      reasonCode: "PERMISSION_DENIED",
      reason: `${system.name} accepted the credentials but refused access: ${message}`,
      nextSteps: [
        `Grant the configured account (or token) the rights to read and write what ${system.name} syncs, or configure one that has them with ${where}`,
        `Then run testConnection(id: "${system.id}")`,
      ],
    };
  // The system answered, with data that cannot be read (a file that is not valid UTF-8): no
  // address or credential to check, the data itself is to fix; the message locates it.
  if (code === "INVALID_INPUT")
    return {
      reasonCode: "INVALID_INPUT",
      reason: `${system.name} cannot be read: ${message}`,
      nextSteps: [
        `Fix the data at the place named above, or the settings that say how to read it, with ${where}`,
        `Then run testConnection(id: "${system.id}")`,
      ],
    };
  if (code === "TIMEOUT")
    return {
      reasonCode: "TIMEOUT",
      reason: `${system.name} did not answer the connection test within ${timeoutMs} ms: ${message}`,
      nextSteps: [
        `Check that ${system.name} is up and reachable from the Metasync workers`,
        `Then run testConnection(id: "${system.id}")`,
      ],
    };
  if (code === "UNSUPPORTED")
    return {
      reasonCode: "CONNECTOR_UNAVAILABLE",
      reason: `The ${system.kind} connector is not available in this build: ${message}`,
      nextSteps: ["Upgrade Metasync to a version with this connector, or use another connector kind"],
    };
  return {
    reasonCode: "CONNECTION_FAILED",
    reason: `Cannot connect to ${system.name}: ${message}`,
    nextSteps: [
      `Check the address in the connection settings (${where}) and that the system is reachable`,
      `Then run testConnection(id: "${system.id}")`,
    ],
  };
}
