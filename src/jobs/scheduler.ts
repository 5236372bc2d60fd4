import type pg from "pg";
import { inTransaction } from "../db/transaction.ts";
import type { Services } from "../services.ts";
import type { ScheduleStep } from "../systems/schedules.ts";
import { nextFireAt } from "../systems/schedules.ts";
import { presentStartResult } from "./start-result-presenter.ts";

/** Advisory lock of the scheduler: one process ticks at a time (pg_try_advisory_xact_lock). */
const SCHEDULER_LOCK: [number, number] = [0x6d73, -1];

export interface Scheduler {
  /** One pass: fire due schedules, advance sequences whose current step finished. */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

interface DueRow {
  id: string;
  cron: string | null;
  interval_seconds: number | null;
  steps: ScheduleStep[];
}

interface StepRow {
  id: string;
  schedule_id: string;
  step_index: number;
  run_status: string;
  steps: ScheduleStep[];
}

/**
 * Fires schedules through the start gate (trigger SCHEDULE) and walks sequences: step n+1 starts
 * only once step n's run is COMPLETED; any other ending stops the sequence. Every firing is a
 * ScheduleExecution row, including the ones the gate deduped, found busy or blocked.
 */
export function startScheduler(services: Services): Scheduler {
  const log = services.logger.child({ component: "scheduler" });
  let running: Promise<void> | null = null;
  const tick = async () => {
    await inTransaction(services.db.pool, async (client) => {
      const { rows } = await client.query<{ leader: boolean }>(
        "SELECT pg_try_advisory_xact_lock($1, $2) AS leader",
        SCHEDULER_LOCK,
      );
      if (rows[0]?.leader) {
        await fireDue(services, client);
        await advanceSequences(services, client);
      }
    });
  };
  const timer = setInterval(() => {
    if (running) return;
    running = tick()
      .catch((err) => log.warn({ err }, "scheduler pass failed"))
      .finally(() => {
        running = null;
      });
  }, services.runOptions.schedulerIntervalMs);
  return {
    tick,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

// Row locks are NO KEY UPDATE: the start gate inserts runs referencing the schedule (a KEY SHARE
// lock for the foreign key) from another connection while this transaction is open.
async function fireDue(services: Services, client: pg.PoolClient) {
  const { rows } = await client.query<DueRow>(
    `SELECT id, cron, interval_seconds, steps FROM schedule
      WHERE enabled AND next_fire_at <= now() ORDER BY next_fire_at FOR NO KEY UPDATE`,
  );
  for (const schedule of rows) {
    const next = nextFireAt({ cron: schedule.cron, intervalSeconds: schedule.interval_seconds }, new Date());
    await client.query("UPDATE schedule SET next_fire_at = $2, last_fired_at = now() WHERE id = $1", [schedule.id, next]);
    const busy = await client.query("SELECT 1 FROM schedule_execution WHERE schedule_id = $1 AND status = 'RUNNING'", [
      schedule.id,
    ]);
    if (busy.rowCount) {
      await client.query(
        `INSERT INTO schedule_execution (schedule_id, step_index, status, outcome, finished_at)
         VALUES ($1, 0, 'SKIPPED', 'PREVIOUS_STILL_RUNNING: the previous firing of this schedule has not finished', now())`,
        [schedule.id],
      );
      continue;
    }
    const { rows: created } = await client.query<{ id: string }>(
      "INSERT INTO schedule_execution (schedule_id, step_index, status) VALUES ($1, 0, 'RUNNING') RETURNING id",
      [schedule.id],
    );
    await startStep(services, client, created[0]!.id, schedule.id, 0, schedule.steps);
  }
}

async function advanceSequences(services: Services, client: pg.PoolClient) {
  const { rows } = await client.query<StepRow>(
    `SELECT e.id, e.schedule_id, e.step_index, r.status::text AS run_status, s.steps
       FROM schedule_execution e JOIN run r ON r.id = e.run_id JOIN schedule s ON s.id = e.schedule_id
      WHERE e.status = 'RUNNING' AND r.status IN ('COMPLETED', 'PARTIAL', 'FAILED', 'CANCELLED', 'BLOCKED')
      FOR NO KEY UPDATE OF e`,
  );
  for (const row of rows) {
    const last = row.step_index + 1 >= row.steps.length;
    if (row.run_status !== "COMPLETED") {
      await settle(client, row.id, "FAILED", `step ${row.step_index + 1} ended ${row.run_status}; the sequence stopped`);
    } else if (last) {
      await settle(client, row.id, "COMPLETED", `all ${row.steps.length} step(s) completed`);
    } else {
      await startStep(services, client, row.id, row.schedule_id, row.step_index + 1, row.steps);
    }
  }
}

async function startStep(
  services: Services,
  client: pg.PoolClient,
  executionId: string,
  scheduleId: string,
  index: number,
  steps: ScheduleStep[],
) {
  const step = steps[index]!;
  try {
    const result = await services.startGate.start({
      connectedSystemId: step.connectedSystemId,
      profile: step.profile,
      dryRun: step.dryRun ?? false,
      trigger: "SCHEDULE",
      scheduleId,
    });
    const shown = presentStartResult(result);
    const outcome = shown.outcome === "ACCEPTED" ? "ACCEPTED" : `${shown.outcome} (${shown.reasonCode}): ${shown.reason}`;
    // A deduped, busy or blocked start is an outcome to record, not an error; it ends this firing.
    const status = shown.outcome === "ACCEPTED" ? "RUNNING" : shown.outcome === "BLOCKED" ? "FAILED" : "SKIPPED";
    await client.query(
      `UPDATE schedule_execution SET step_index = $2, run_id = $3, status = $4, outcome = $5,
         finished_at = CASE WHEN $4 = 'RUNNING' THEN NULL ELSE now() END WHERE id = $1`,
      [executionId, index, result.run.id, status, outcome],
    );
  } catch (e) {
    await client.query(
      "UPDATE schedule_execution SET step_index = $2, status = 'FAILED', outcome = $3, finished_at = now() WHERE id = $1",
      [executionId, index, `step ${index + 1} could not start: ${(e as Error).message}`],
    );
  }
}

async function settle(client: pg.PoolClient, executionId: string, status: string, outcome: string) {
  await client.query("UPDATE schedule_execution SET status = $2, outcome = $3, finished_at = now() WHERE id = $1", [
    executionId,
    status,
    outcome,
  ]);
}
