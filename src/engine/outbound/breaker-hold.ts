import type pg from "pg";
import type { NewExport } from "../pending-export/planning.ts";
import type { RunContext } from "../run-context.ts";
import { RunEventType } from "../run-events.ts";
import {
  type BreakerConfig,
  type BreakerLimits,
  type Crossing,
  evaluateBreaker,
  hasLimits,
  holdReason,
  objectsDeciding,
  type RunFigures,
  ruleLimits,
  systemLimits,
} from "./breaker.ts";
import { notifyExportChanges } from "./notify.ts";

/**
 * Where the breaker is judged: while a sync run plans, after each planning batch is written,
 * on the run's figures so far per target system (and per rule with its own breaker). The run
 * knows there what it planned (creates, updates, deletes, attributes) before any export run
 * sends it, and once a limit is crossed every export it planned for that target (those of
 * earlier batches included) and every one it plans afterwards waits AWAITING_APPROVAL. Judging
 * at the start of the export run instead (as the delete threshold does) would mix the plans of
 * several runs and could not say which run changed too much. Limit: an export run of the target
 * that runs at the same time as the sync may send exports of batches before the crossing.
 */
export interface BreakerState {
  /** A dry run: the figures are counted from the planned (unwritten) exports and nothing is held; a crossing is reported. */
  dryRun: boolean;
  /** Configured breaker per system (absent or null: the default protection). */
  systems: Map<string, BreakerConfig | null>;
  /** A rule's own breaker per rule id (absent: none). */
  rules: Map<string, BreakerConfig | null>;
  /** Holds made in this batch, as run events (the run machinery writes them with the batch). */
  events: { type: string; data: Record<string, unknown> }[];
  /** Figures so far per scope (system, or rule), kept in memory after a first read. */
  tallies: Map<string, Omit<RunFigures, "objects">>;
  /**
   * Objects per target system, the base of percentages: counted once exactly, or only up to what
   * the figures so far need (objectsDeciding). A full count reads every object of the system
   * (status is in no index): 0.4 s at 100,000 objects, per target and sync run, for a delta of a
   * few hundred changes that cannot come near a percentage limit.
   */
  bases: Map<string, { objects: number; exact: boolean }>;
  /** Scopes already held by this run (and the reason): later batches hold only their own new exports. */
  held: Map<string, string>;
}

type Q = Pick<pg.PoolClient, "query">;

export async function loadBreakerState(q: Q, dryRun = false): Promise<BreakerState> {
  const systems = await q.query<{ id: string; breaker: BreakerConfig | null }>("SELECT id, breaker FROM connected_system");
  const rules = await q.query<{ id: string; breaker: BreakerConfig }>(
    "SELECT id, breaker FROM sync_rule WHERE direction = 'OUTBOUND' AND breaker IS NOT NULL",
  );
  return {
    dryRun,
    systems: new Map(systems.rows.map((r) => [r.id, r.breaker])),
    rules: new Map(rules.rows.map((r) => [r.id, r.breaker])),
    events: [],
    tallies: new Map(),
    bases: new Map(),
    held: new Map(),
  };
}

interface Scope {
  key: string;
  systemId: string;
  ruleId: string | null;
  limits: BreakerLimits;
  inserts: NewExport[];
}

/** Judge the run's figures after one planning batch wrote `inserts`; hold what crossed. */
export async function applyBreakers(
  tx: pg.PoolClient,
  state: BreakerState,
  runId: string,
  inserts: NewExport[],
  publish?: RunContext["publish"],
): Promise<void> {
  if (!inserts.length) return;
  for (const scope of scopesOf(state, inserts)) {
    const tally = await tallyOf(tx, state, runId, scope);
    if (state.held.has(scope.key)) {
      if (state.dryRun) continue;
      // Already held: this batch's new exports there wait too.
      await holdExports(tx, runId, scope, state.held, await withBase(tx, state, scope, tally, null), [], publish);
      continue;
    }
    let figures = await withBase(tx, state, scope, tally, objectsDeciding(scope.limits, tally));
    let crossings = evaluateBreaker(scope.limits, figures);
    if (!crossings.length) continue;
    if (!state.bases.get(scope.systemId)?.exact) {
      // Judged on a lower bound: the figures reported (and the judgement) take the exact count.
      figures = await withBase(tx, state, scope, tally, null);
      crossings = evaluateBreaker(scope.limits, figures);
      if (!crossings.length) continue;
    }
    if (state.dryRun) {
      const reason = holdReason(crossings, figures, scope.limits.isDefault);
      state.held.set(scope.key, reason);
      state.events.push({
        type: RunEventType.breakerWouldHold,
        data: {
          connectedSystemId: scope.systemId,
          syncRuleId: scope.ruleId,
          reason,
          isDefault: scope.limits.isDefault,
          figures,
          crossings,
        },
      });
      continue;
    }
    const held = await holdExports(tx, runId, scope, state.held, figures, crossings, publish);
    state.events.push({
      type: RunEventType.breakerHeld,
      data: {
        holdId: held.holdId,
        connectedSystemId: scope.systemId,
        syncRuleId: scope.ruleId,
        reason: held.reason,
        isDefault: scope.limits.isDefault,
        held: held.count,
        figures,
        crossings,
      },
    });
  }
}

function scopesOf(state: BreakerState, inserts: NewExport[]): Scope[] {
  const scopes = new Map<string, Scope>();
  const add = (key: string, systemId: string, ruleId: string | null, limits: BreakerLimits, e: NewExport) => {
    const scope = scopes.get(key) ?? { key, systemId, ruleId, limits, inserts: [] };
    scope.inserts.push(e);
    scopes.set(key, scope);
  };
  // Limits per system and rule, worked out once per batch rather than once per export.
  const systems = new Map<string, BreakerLimits>();
  const rules = new Map<string, BreakerLimits | null>();
  for (const e of inserts) {
    let system = systems.get(e.systemId);
    if (!system) systems.set(e.systemId, (system = systemLimits(state.systems.get(e.systemId))));
    if (hasLimits(system)) add(`system:${e.systemId}`, e.systemId, null, system, e);
    let rule = rules.get(e.ruleId);
    if (rule === undefined) rules.set(e.ruleId, (rule = ruleLimits(state.rules.get(e.ruleId))));
    if (rule) add(`rule:${e.ruleId}`, e.systemId, e.ruleId, rule, e);
  }
  return [...scopes.values()];
}

/** The run's figures so far in one scope: read once from the table (a resumed run), then counted in memory. */
async function tallyOf(tx: Q, state: BreakerState, runId: string, scope: Scope): Promise<Omit<RunFigures, "objects">> {
  const names = scope.limits.attributes.map((a) => a.name.toLowerCase());
  let tally = state.tallies.get(scope.key);
  if (!tally && !state.dryRun) {
    // The batch's own exports are already written: the first read counts them.
    tally = await readTally(tx, runId, scope.systemId, scope.ruleId, names);
    state.tallies.set(scope.key, tally);
  } else {
    if (!tally) state.tallies.set(scope.key, (tally = { creates: 0, updates: 0, deletes: 0, attributes: {} }));
    for (const e of scope.inserts) {
      if (e.changeType === "CREATE") tally.creates++;
      else if (e.changeType === "UPDATE") {
        tally.updates++;
        for (const name of changedAttributes(e))
          if (names.includes(name)) tally.attributes[name] = (tally.attributes[name] ?? 0) + 1;
      } else tally.deletes++;
    }
  }
  return tally;
}

/**
 * The tally with the system's objects: exact when `atLeast` is null, otherwise counted no further
 * than `atLeast` (a lower bound when it reaches it). A bound that no longer suffices is counted
 * again to at least twice the last one, so a run whose figures keep growing reads the system's
 * objects no more than about twice in all.
 */
async function withBase(
  tx: Q,
  state: BreakerState,
  scope: Scope,
  tally: Omit<RunFigures, "objects">,
  atLeast: number | null,
): Promise<RunFigures> {
  let base = state.bases.get(scope.systemId);
  const enough = base && (base.exact || (atLeast !== null && base.objects >= atLeast));
  if (!enough && atLeast !== 0) {
    const cap = atLeast === null ? null : Math.max(atLeast, 2 * (base?.objects ?? 0));
    const { rows } = await tx.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT FROM connector_space_object
        WHERE connected_system_id = $1 AND status = 'NORMAL' LIMIT $2) o`,
      [scope.systemId, cap],
    );
    const objects = rows[0]?.n ?? 0;
    base = { objects, exact: cap === null || objects < cap };
    state.bases.set(scope.systemId, base);
  }
  return { ...tally, attributes: { ...tally.attributes }, objects: base?.objects ?? 0 };
}

const changedAttributes = (e: NewExport) =>
  new Set((e.attributeChanges as { attribute?: string }[]).flatMap((c) => (c.attribute ? [c.attribute.toLowerCase()] : [])));

async function readTally(q: Q, runId: string, systemId: string, ruleId: string | null, names: string[]) {
  const { rows } = await q.query<{ change_type: string; n: number }>(
    `SELECT change_type::text, count(*)::int AS n FROM pending_export
      WHERE planning_run_id = $1 AND connected_system_id = $2 AND ($3::uuid IS NULL OR sync_rule_id = $3) GROUP BY change_type`,
    [runId, systemId, ruleId],
  );
  const n = (t: string) => rows.find((r) => r.change_type === t)?.n ?? 0;
  const attributes: Record<string, number> = {};
  if (names.length) {
    const counted = await q.query<{ name: string; n: number }>(
      `SELECT lower(c->>'attribute') AS name, count(DISTINCT p.id)::int AS n
         FROM pending_export p CROSS JOIN LATERAL jsonb_array_elements(p.attribute_changes) c
        WHERE p.planning_run_id = $1 AND p.connected_system_id = $2 AND ($3::uuid IS NULL OR p.sync_rule_id = $3)
          AND p.change_type = 'UPDATE' AND lower(c->>'attribute') = ANY($4::text[])
        GROUP BY 1`,
      [runId, systemId, ruleId, names],
    );
    for (const r of counted.rows) attributes[r.name] = r.n;
  }
  return { creates: n("CREATE"), updates: n("UPDATE"), deletes: n("DELETE"), attributes };
}

/**
 * Hold the scope's exports of this run that still wait to be sent (PENDING, not approved by an
 * operator since): every one on the first crossing, the batch's own afterwards. The default
 * protection is a delete protection: it holds the run's deletes only, its other changes go out. The hold row
 * keeps the latest figures and counts what it held.
 */
async function holdExports(
  tx: Q,
  runId: string,
  scope: Scope,
  heldScopes: Map<string, string>,
  figures: RunFigures,
  crossings: Crossing[],
  publish?: RunContext["publish"],
) {
  const first = !heldScopes.has(scope.key);
  const reason = heldScopes.get(scope.key) ?? holdReason(crossings, figures, scope.limits.isDefault);
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE pending_export SET status = 'AWAITING_APPROVAL', requires_approval = true, approval_reason = $4, updated_at = now()
      WHERE planning_run_id = $1 AND connected_system_id = $2 AND ($3::uuid IS NULL OR sync_rule_id = $3)
        AND status = 'PENDING' AND approved_at IS NULL AND ($5::uuid[] IS NULL OR id = ANY($5::uuid[]))
        AND (NOT $6 OR change_type = 'DELETE')
      RETURNING id`,
    [runId, scope.systemId, scope.ruleId, reason, first ? null : scope.inserts.map((e) => e.id), scope.limits.isDefault],
  );
  const hold = await tx.query<{ id: string }>(
    `INSERT INTO breaker_hold (run_id, connected_system_id, sync_rule_id, scope_key, reason, figures, crossings, is_default, held)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (run_id, connected_system_id, scope_key) DO UPDATE
       SET figures = EXCLUDED.figures, held = breaker_hold.held + EXCLUDED.held, updated_at = now(),
           crossings = CASE WHEN EXCLUDED.crossings = '[]'::jsonb THEN breaker_hold.crossings ELSE EXCLUDED.crossings END
     RETURNING id`,
    [
      runId,
      scope.systemId,
      scope.ruleId,
      scope.key,
      reason,
      JSON.stringify(figures),
      JSON.stringify(crossings),
      scope.limits.isDefault,
      rows.length,
    ],
  );
  heldScopes.set(scope.key, reason);
  await notifyExportChanges(
    publish,
    tx as pg.PoolClient,
    rows.map((r) => ({ id: r.id, systemId: scope.systemId, runId })),
    null,
  );
  return { holdId: hold.rows[0]!.id, reason, count: rows.length };
}

/**
 * Partitions of one run plan on several workers. Each keeps its own figures the way a whole run
 * does (read once from what the run committed, at its first batch, then counted in memory: the
 * table is not read again per batch, which at 100,000 objects cost as much as the planning), and
 * before each batch learns the scopes another partition already held, so its new exports there
 * wait too. Limit: a crossing is judged on the run's figures when the partition started plus the
 * partition's own, so it can come up to (workers - 1) partitions later than in one piece.
 */
export async function reloadHeldScopes(q: Q, state: BreakerState, runId: string): Promise<void> {
  const { rows } = await q.query<{ scope_key: string; reason: string }>(
    "SELECT scope_key, reason FROM breaker_hold WHERE run_id = $1",
    [runId],
  );
  for (const r of rows) state.held.set(r.scope_key, r.reason);
}
