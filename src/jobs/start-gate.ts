import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { ConnectorFactory } from "../connectors/deps.ts";
import { inTransaction } from "../db/transaction.ts";
import { badInput, notFound } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";
import type { ConnectedSystem, PrismaClient } from "../generated/prisma/client.ts";
import type { RunProfile } from "../generated/prisma/enums.ts";
import type { Logger } from "../logger.ts";
import type { ConnectedSystems } from "../systems/connected-systems.ts";
import { ACTIVE_STATUSES, dedupeKey, type OperationDefinition, type OperationType, operationForProfile } from "./operations.ts";
import type { RunOptions } from "./options.ts";
import { type PreflightFailure, preflight } from "./preflight.ts";
import { insertRunEvents, publishRunChanged, RUNS_QUEUED_TOPIC, RunEventType } from "./progress.ts";
import type { RunQueue } from "./queue.ts";

export type RunTrigger = "MANUAL" | "SCHEDULE" | "API";
export type StartOutcome = "ACCEPTED" | "DEDUPED" | "SCOPE_BUSY" | "BLOCKED";

export interface StartRequest {
  /** Id of the system, or its name (CLI, YAML). */
  connectedSystemId?: string;
  systemName?: string;
  profile: RunProfile;
  dryRun?: boolean;
  trigger: RunTrigger;
  scheduleId?: string | null;
}

/** A run as the start result names it (the new one, the duplicate, the scope holder, the blocked record). */
export interface RunSummary {
  id: string;
  operation: OperationType;
  status: string;
  connectedSystemId: string;
  systemName: string;
}

export interface StartResult {
  outcome: StartOutcome;
  run: RunSummary;
  /** The scopes both runs hold (SCOPE_BUSY). */
  sharedScopes: string[];
  /** BLOCKED only. */
  failure: PreflightFailure | null;
}

/** Advisory lock namespace of run scopes (pg_advisory_xact_lock(int, int)). */
const SCOPE_LOCK_CLASS = 0x6d73; // "ms"

export interface StartGateDeps {
  pool: pg.Pool;
  prisma: PrismaClient;
  systems: ConnectedSystems;
  queue: RunQueue;
  bus: EventBus;
  logger: Logger;
  connectorFactory: ConnectorFactory;
  options: RunOptions;
}

/**
 * The one way to start work (GraphQL startRun, CLI run, schedules): pin the connection
 * settings, preflight, then dedupe / scope busy / accept inside one transaction that holds
 * transaction-scoped advisory locks on every scope involved. The locks serialise concurrent
 * starts across API processes; the checks read committed run rows, so the rules hold across
 * restarts too. An accepted run's row and its pg-boss job commit together.
 */
export class StartGate {
  constructor(private readonly deps: StartGateDeps) {}

  async start(request: StartRequest): Promise<StartResult> {
    const system = await this.findSystem(request);
    const op = operationForProfile(request.profile);
    const dryRun = request.dryRun ?? false;
    // Pin: the version current now is the one the run will talk to, whatever changes later.
    const settings = await this.deps.systems.currentSettings(system);
    const failure = await preflight(
      { ...this.deps, connectionTestTimeoutMs: this.deps.options.connectionTestTimeoutMs },
      op,
      system,
      settings.id,
    );
    if (failure) return this.block(request, system, op, settings.id, failure, dryRun);
    return this.admit(request, system, op, settings.id, dryRun);
  }

  private async findSystem(request: StartRequest): Promise<ConnectedSystem> {
    const { prisma } = this.deps;
    if (request.connectedSystemId) {
      const found = await prisma.connectedSystem.findUnique({ where: { id: request.connectedSystemId } });
      if (!found) throw notFound("connected system", request.connectedSystemId);
      return found;
    }
    if (request.systemName) {
      const found = await prisma.connectedSystem.findUnique({ where: { name: request.systemName } });
      if (!found) throw notFound("connected system", JSON.stringify(request.systemName));
      return found;
    }
    throw badInput("connectedSystemId is required", "connectedSystemId");
  }

  private async block(
    request: StartRequest,
    system: ConnectedSystem,
    op: OperationDefinition,
    settingsId: string,
    failure: PreflightFailure,
    dryRun: boolean,
  ): Promise<StartResult> {
    const id = randomUUID();
    await inTransaction(this.deps.pool, async (client) => {
      await client.query(
        `INSERT INTO run (id, operation, profile, connected_system_id, connection_settings_id, scope_key, scopes, status,
           dry_run, trigger, schedule_id, reason_code, reason, next_steps, phase, finished_at)
         VALUES ($1, $2, $3::run_profile, $4, $5, $6, $7, 'BLOCKED', $8, $9, $10, $11, $12, $13, 'blocked', now())`,
        [
          id,
          op.type,
          op.profile,
          system.id,
          settingsId,
          dedupeKey(op.type, system.id),
          op.scopes(system.id),
          dryRun,
          request.trigger,
          request.scheduleId ?? null,
          failure.reasonCode,
          failure.reason,
          failure.nextSteps,
        ],
      );
      await insertRunEvents(client, id, [{ type: RunEventType.blocked, data: { trigger: request.trigger, ...failure } }]);
      await publishRunChanged(this.deps.bus, { id, connectedSystemId: system.id, status: "BLOCKED" }, client);
    });
    const run = { id, operation: op.type, status: "BLOCKED", connectedSystemId: system.id, systemName: system.name };
    return { outcome: "BLOCKED", run, sharedScopes: [], failure };
  }

  private async admit(
    request: StartRequest,
    system: ConnectedSystem,
    op: OperationDefinition,
    settingsId: string,
    dryRun: boolean,
  ): Promise<StartResult> {
    // Dry runs dedupe among themselves; against real runs they are simply scope busy.
    const key = dedupeKey(op.type, system.id) + (dryRun ? ":dry" : "");
    const scopes = op.scopes(system.id);
    const { queue, bus } = this.deps;
    // pg-boss must be installed before the transaction: its first start runs DDL.
    await queue.start();
    return inTransaction(this.deps.pool, async (client) => {
      for (const lock of [key, ...scopes].sort())
        await client.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [SCOPE_LOCK_CLASS, lock]);
      const duplicate = await activeRun(client, "r.scope_key = $1", [key]);
      if (duplicate) return { outcome: "DEDUPED", run: duplicate, sharedScopes: [], failure: null };
      const holder = await activeRun(client, "r.scopes && $1::text[]", [scopes]);
      if (holder) {
        const held = await client.query<{ scopes: string[] }>("SELECT scopes FROM run WHERE id = $1", [holder.id]);
        const shared = scopes.filter((s) => held.rows[0]?.scopes.includes(s));
        return { outcome: "SCOPE_BUSY", run: holder, sharedScopes: shared, failure: null };
      }
      const id = randomUUID();
      const jobId = randomUUID();
      await client.query(
        `INSERT INTO run (id, operation, profile, connected_system_id, connection_settings_id, scope_key, scopes, status,
           dry_run, trigger, schedule_id, job_id, max_attempts)
         VALUES ($1, $2, $3::run_profile, $4, $5, $6, $7, 'QUEUED', $8, $9, $10, $11, $12)`,
        [
          id,
          op.type,
          op.profile,
          system.id,
          settingsId,
          key,
          scopes,
          dryRun,
          request.trigger,
          request.scheduleId ?? null,
          jobId,
          1 + this.deps.options.maxRecoveries,
        ],
      );
      await queue.send(client, jobId, { runId: id, connectionSettingsId: settingsId });
      await insertRunEvents(client, id, [
        {
          type: RunEventType.triggered,
          data: { trigger: request.trigger, operation: op.type, connectionSettingsId: settingsId, dryRun },
        },
      ]);
      await publishRunChanged(bus, { id, connectedSystemId: system.id, status: "QUEUED" }, client);
      await bus.publish(RUNS_QUEUED_TOPIC, { runId: id }, client);
      const run: RunSummary = { id, operation: op.type, status: "QUEUED", connectedSystemId: system.id, systemName: system.name };
      return { outcome: "ACCEPTED", run, sharedScopes: [], failure: null };
    });
  }
}

async function activeRun(client: pg.PoolClient, where: string, params: unknown[]): Promise<RunSummary | null> {
  const { rows } = await client.query<RunSummary>(
    `SELECT r.id, r.operation, r.status::text AS status, r.connected_system_id AS "connectedSystemId", cs.name AS "systemName"
       FROM run r JOIN connected_system cs ON cs.id = r.connected_system_id
      WHERE ${where} AND r.status = ANY($${params.length + 1}::run_status[])
      ORDER BY r.created_at LIMIT 1`,
    [...params, ACTIVE_STATUSES],
  );
  return rows[0] ?? null;
}
