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
  /** A dry run's figures so far per scope (system, or rule): a real run keeps them in breaker_tally. */
  tallies: Map<string, Omit<RunFigures, "objects">>;
  /** Where this run's batches count their figures: "run", or a partition's own slot (see tallyOf). */
  slot: string;
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

export async function loadBreakerState(q: Q, dryRun = false, slot = "run"): Promise<BreakerState> {
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
    slot,
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
  for (const scope of scopesOf(state, inserts))
    await judge(tx, state, runId, scope, await tallyOf(tx, state, runId, scope), publish);
}

/**
 * The last step of a run planned in partitions, once all of them committed: judge each scope on
 * the sum of every partition's figures. Each batch judged the figures committed when it ran plus
 * its own, so two partitions' last batches committing side by side could each stay under a
 * limit that their sum crosses; here nothing is in flight any more. The run's exports wait for
 * its end (claimReadyExports), so a hold made here still comes before any of them is sent.
 */
export async function judgeWholeRun(
  tx: pg.PoolClient,
  state: BreakerState,
  runId: string,
  publish?: RunContext["publish"],
): Promise<void> {
  const { rows } = await tx.query<Tally & { scope_key: string; connected_system_id: string }>(
    "SELECT scope_key, connected_system_id, creates, updates, deletes, attributes FROM breaker_tally WHERE run_id = $1",
    [runId],
  );
  const byScope = new Map<string, typeof rows>();
  for (const r of rows) {
    const slots = byScope.get(r.scope_key);
    if (slots) slots.push(r);
    else byScope.set(r.scope_key, [r]);
  }
  for (const [key, slots] of byScope) {
    const systemId = slots[0]!.connected_system_id;
    const ruleId = key.startsWith("rule:") ? key.slice("rule:".length) : null;
    const limits = ruleId ? ruleLimits(state.rules.get(ruleId)) : systemLimits(state.systems.get(systemId));
    if (!limits || !hasLimits(limits)) continue;
    await judge(tx, state, runId, { key, systemId, ruleId, limits, inserts: [] }, sumTallies(slots), publish);
  }
}

/** Hold the scope's exports when the run's figures there cross a limit (or say so, in a dry run). */
async function judge(
  tx: pg.PoolClient,
  state: BreakerState,
  runId: string,
  scope: Scope,
  tally: Tally,
  publish?: RunContext["publish"],
) {
  if (state.held.has(scope.key)) {
    if (state.dryRun) return;
    // Already held: this batch's new exports there wait too. Judged with no exports of its own
    // (the whole run, at its end), every one still PENDING does: a partition's batch planning
    // beside the hold, before it could see it, may have left some.
    const figures = await withBase(tx, state, scope, tally, null);
    await holdExports(tx, runId, scope, state.held, figures, [], publish, scope.inserts.length === 0);
    return;
  }
  let figures = await withBase(tx, state, scope, tally, objectsDeciding(scope.limits, tally));
  let crossings = evaluateBreaker(scope.limits, figures);
  if (!crossings.length) return;
  if (!state.bases.get(scope.systemId)?.exact) {
    // Judged on a lower bound: the figures reported (and the judgement) take the exact count.
    figures = await withBase(tx, state, scope, tally, null);
    crossings = evaluateBreaker(scope.limits, figures);
    if (!crossings.length) return;
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
    return;
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

type Tally = Omit<RunFigures, "objects">;

/** What one batch's exports add to a scope's figures. */
function batchTally(scope: Scope): Tally {
  const names = scope.limits.attributes.map((a) => a.name.toLowerCase());
  const tally: Tally = { creates: 0, updates: 0, deletes: 0, attributes: {} };
  for (const e of scope.inserts) {
    if (e.changeType === "CREATE") tally.creates++;
    else if (e.changeType === "UPDATE") {
      tally.updates++;
      for (const name of changedAttributes(e))
        if (names.includes(name)) tally.attributes[name] = (tally.attributes[name] ?? 0) + 1;
    } else tally.deletes++;
  }
  return tally;
}

/**
 * The run's figures so far in one scope, this batch's included. A dry run writes nothing and
 * counts in memory. Otherwise the batch adds its figures to its slot's breaker_tally row (in
 * its own transaction: a batch rolled back adds nothing, a resumed run or partition continues
 * from what it committed) and reads the other slots' rows: the figures of every partition of
 * the run as committed, at the cost of a row per partition. Counting the run's pending exports
 * instead read every export planned so far, once per partition and scope: quadratic in the run's
 * size (a full sync of 1,000,000 identities has 100 partitions, each count up to a million rows).
 */
async function tallyOf(tx: Q, state: BreakerState, runId: string, scope: Scope): Promise<Tally> {
  const added = batchTally(scope);
  if (state.dryRun) {
    const tally = state.tallies.get(scope.key) ?? { creates: 0, updates: 0, deletes: 0, attributes: {} };
    state.tallies.set(scope.key, sumTallies([tally, added]));
    return state.tallies.get(scope.key)!;
  }
  const { rows } = await tx.query<Tally>(
    `WITH own AS (
       INSERT INTO breaker_tally AS t (run_id, scope_key, slot, connected_system_id, creates, updates, deletes, attributes)
       VALUES ($1, $2, $3, $8, $4, $5, $6, $7::jsonb)
       ON CONFLICT (run_id, scope_key, slot) DO UPDATE SET
         creates = t.creates + EXCLUDED.creates, updates = t.updates + EXCLUDED.updates, deletes = t.deletes + EXCLUDED.deletes,
         attributes = (SELECT COALESCE(jsonb_object_agg(k, n), '{}'::jsonb) FROM (
           SELECT k, sum(v::int) AS n FROM (SELECT * FROM jsonb_each_text(t.attributes)
                                             UNION ALL SELECT * FROM jsonb_each_text(EXCLUDED.attributes)) a(k, v) GROUP BY k) s)
       RETURNING creates, updates, deletes, attributes)
     SELECT creates, updates, deletes, attributes FROM own
     UNION ALL
     SELECT creates, updates, deletes, attributes FROM breaker_tally WHERE run_id = $1 AND scope_key = $2 AND slot <> $3`,
    [runId, scope.key, state.slot, added.creates, added.updates, added.deletes, JSON.stringify(added.attributes), scope.systemId],
  );
  return sumTallies(rows);
}

function sumTallies(tallies: Tally[]): Tally {
  const sum: Tally = { creates: 0, updates: 0, deletes: 0, attributes: {} };
  for (const t of tallies) {
    sum.creates += t.creates;
    sum.updates += t.updates;
    sum.deletes += t.deletes;
    for (const [name, n] of Object.entries(t.attributes)) sum.attributes[name] = (sum.attributes[name] ?? 0) + n;
  }
  return sum;
}

/**
 * The tally with the system's objects: exact when `atLeast` is null, otherwise counted no further
 * than `atLeast` (a lower bound when it reaches it). A bound that no longer suffices is counted
 * again to at least twice the last one, so a run whose figures keep growing reads the system's
 * objects no more than about twice in all.
 */
async function withBase(tx: Q, state: BreakerState, scope: Scope, tally: Tally, atLeast: number | null): Promise<RunFigures> {
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
  /** Every export of the run still waiting there, not only the batch's own (the first crossing, the run's end). */
  all = !heldScopes.has(scope.key),
) {
  const reason = heldScopes.get(scope.key) ?? holdReason(crossings, figures, scope.limits.isDefault);
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE pending_export SET status = 'AWAITING_APPROVAL', requires_approval = true, approval_reason = $4, updated_at = now()
      WHERE planning_run_id = $1 AND connected_system_id = $2 AND ($3::uuid IS NULL OR sync_rule_id = $3)
        AND status = 'PENDING' AND approved_at IS NULL AND ($5::uuid[] IS NULL OR id = ANY($5::uuid[]))
        AND (NOT $6 OR change_type = 'DELETE')
      RETURNING id`,
    [runId, scope.systemId, scope.ruleId, reason, all ? null : scope.inserts.map((e) => e.id), scope.limits.isDefault],
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
 * Partitions of one run plan on several workers, each batch judging the run's committed figures
 * plus its own (tallyOf), and before each batch learn the scopes another partition already
 * held, so that their new exports there wait too.
 */
export async function reloadHeldScopes(q: Q, state: BreakerState, runId: string): Promise<void> {
  const { rows } = await q.query<{ scope_key: string; reason: string }>(
    "SELECT scope_key, reason FROM breaker_hold WHERE run_id = $1",
    [runId],
  );
  for (const r of rows) state.held.set(r.scope_key, r.reason);
}
