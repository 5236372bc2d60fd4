import type { RunProfile, SyncDirection } from "../generated/prisma/enums.ts";

/**
 * The operation registry: every kind of run the start gate admits, with its stable type
 * string, the queue it runs on, the protected scopes it holds while active, its preflight
 * checks and the operations it conflicts with.
 *
 * Scopes (the conflict matrix is "share a scope string"):
 *  - `cs:<systemId>`     the system's connector space. Imports write it, syncs read it (and
 *                        write join state into it), exports read pending exports planned
 *                        against it: nothing may run on one system's connector space at once.
 *  - `mv`                the metaverse, shared by every system: two syncs of any systems
 *                        would interleave writes on the same metaverse objects.
 *  - `export:<systemId>` the target system itself, written by exports.
 *
 * Dedupe (same operation + same system) is checked before scope busy, so a second start of the
 * same thing answers DEDUPED with the run already queued or running, not SCOPE_BUSY.
 */
export type OperationType =
  | "connector.full_import"
  | "connector.delta_import"
  | "connector.full_sync"
  | "connector.delta_sync"
  | "connector.export"
  | "connector.realtime";

export type PreflightCheck = "staging" | "config" | "secrets" | "connection" | "schema" | "syncRules";

export type OperationFamily = "import" | "sync" | "export";

export interface OperationDefinition {
  type: OperationType;
  profile: RunProfile;
  family: OperationFamily;
  /**
   * One queue for every operation: admission and mutual exclusion are the start gate's job
   * (scopes), so separate queues would only add poll loops per worker. A deployment that wants
   * dedicated export workers changes this name; nothing else depends on it being shared.
   */
  queue: string;
  /** Protected scopes held while the run is QUEUED, RUNNING, CANCELLING or PAUSED. */
  scopes(systemId: string): string[];
  preflight: readonly PreflightCheck[];
  /** Sync rules the operation needs (sync: INBOUND, export: OUTBOUND). */
  requiredRuleDirection?: SyncDirection;
  /** Connector capability the operation needs, checked after the connection test. */
  capability?: "fullImport" | "deltaImport" | "export";
}

export const RUN_QUEUE = "metasync.runs";

const importScopes = (id: string) => [`cs:${id}`];
const syncScopes = (id: string) => [`cs:${id}`, "mv"];
const exportScopes = (id: string) => [`cs:${id}`, `export:${id}`];
const talksToSystem = ["config", "secrets", "connection", "schema"] as const;

export const operations: Record<OperationType, OperationDefinition> = {
  "connector.full_import": {
    type: "connector.full_import",
    profile: "FULL_IMPORT",
    family: "import",
    queue: RUN_QUEUE,
    scopes: importScopes,
    preflight: talksToSystem,
    capability: "fullImport",
  },
  "connector.delta_import": {
    type: "connector.delta_import",
    profile: "DELTA_IMPORT",
    family: "import",
    queue: RUN_QUEUE,
    scopes: importScopes,
    preflight: talksToSystem,
    capability: "deltaImport",
  },
  // A sync reads the connector space and writes the metaverse: it never talks to the system.
  "connector.full_sync": {
    type: "connector.full_sync",
    profile: "FULL_SYNC",
    family: "sync",
    queue: RUN_QUEUE,
    scopes: syncScopes,
    preflight: ["schema", "syncRules"],
    requiredRuleDirection: "INBOUND",
  },
  "connector.delta_sync": {
    type: "connector.delta_sync",
    profile: "DELTA_SYNC",
    family: "sync",
    queue: RUN_QUEUE,
    scopes: syncScopes,
    preflight: ["schema", "syncRules"],
    requiredRuleDirection: "INBOUND",
  },
  "connector.export": {
    type: "connector.export",
    profile: "EXPORT",
    family: "export",
    queue: RUN_QUEUE,
    scopes: exportScopes,
    // Staging first: a system that must not be written is refused before it is even contacted.
    preflight: ["staging", ...talksToSystem, "syncRules"],
    requiredRuleDirection: "OUTBOUND",
    capability: "export",
  },
  // The inbox -> connector space -> delta sync: a sync's scopes (it writes the metaverse); the
  // system is not contacted (its changes were pushed), so neither is its connection tested.
  "connector.realtime": {
    type: "connector.realtime",
    profile: "REALTIME",
    family: "sync",
    queue: RUN_QUEUE,
    scopes: syncScopes,
    preflight: ["schema", "syncRules"],
    requiredRuleDirection: "INBOUND",
  },
};

export const OPERATION_TYPES = Object.keys(operations) as OperationType[];

export function operationForProfile(profile: RunProfile): OperationDefinition {
  const found = OPERATION_TYPES.map((t) => operations[t]).find((op) => op.profile === profile);
  if (!found) throw new Error(`no operation for profile ${profile}`);
  return found;
}

/** Dedupe key: the same operation on the same system is one piece of work. */
export const dedupeKey = (type: OperationType, systemId: string) => `${type}:${systemId}`;

// Run statuses are the engine's (an export run reads them too); the jobs layer uses them from here.
export { ACTIVE_STATUSES, FINAL_STATUSES, isFinalStatus } from "../engine/run-statuses.ts";

/** Whether two operations (on systems a and b) may not be active at the same time. */
export function conflicts(a: OperationType, systemA: string, b: OperationType, systemB: string): boolean {
  const held = new Set(operations[a].scopes(systemA));
  return operations[b].scopes(systemB).some((s) => held.has(s));
}

/** Accepts FULL_IMPORT, full_import, full-import, connector.full_import. */
export function parseProfile(input: string): RunProfile | null {
  const bare = input
    .replace(/^connector\./, "")
    .replace(/-/g, "_")
    .toUpperCase();
  const op = OPERATION_TYPES.map((t) => operations[t]).find((o) => o.profile === bare);
  return op ? op.profile : null;
}
