import type pg from "pg";
import { contentHashOfJson } from "../../connectors/content-hash.ts";
import { canonicalJson } from "../../util/canonical-json.ts";
import { deletePlaceholders, disconnectObjects, insertPlaceholders } from "../connector-space/store.ts";
import {
  exportOwners,
  holdDeletesOverThreshold,
  insertExports,
  loadOpenExports,
  reviseExports,
} from "../pending-export/planning.ts";
import { expressionFailure, RuleExpressionError } from "../rule-expression-error.ts";
import type { RunChangeRow } from "../run-changes.ts";
import type { RunContext } from "../run-context.ts";
import { timeOrderedId } from "../time-ordered-id.ts";
import { applyBreakers, type BreakerState } from "./breaker-hold.ts";
import { decide, type PlanSink } from "./decide.ts";
import { desiredState, type Identity, newPlanningBatch, prefetchReferences } from "./desired.ts";
import { DnFlowError } from "./dn-flow.ts";
import { isMissing } from "./inputs.ts";
import { notifyExportChanges } from "./notify.ts";
import type { OutboundRule } from "./rules.ts";
import { loadTargets } from "./store.ts";

export interface PlanScope {
  runId: string;
  dryRun: boolean;
  /** Tells subscribers about planned and revised exports (the run context's publish). */
  publish?: RunContext["publish"];
  rules: OutboundRule[];
  /** Delete threshold per target system (connected_system.delete_threshold). */
  deleteThresholds: Map<string, number | null>;
  /** Mass-change breakers of the target systems and rules, and the run's figures (breaker-hold.ts). */
  breaker?: BreakerState;
  /**
   * Identities planned with a reference that matched no identity, when this scope plans every
   * batch of its run (late-references.ts); absent, the late pass finds them in what was planned.
   */
  unresolvedReferences?: Set<string>;
}

/**
 * Export planning for identities a sync changed: per outbound rule, CREATE (with a provisioned
 * placeholder) for in-scope identities not yet in the system, UPDATE with only the attribute-level
 * differences (and a rename when the computed DN moved) for joined ones, and the rule's
 * deprovision action for identities that left scope or were deleted. Newer plans supersede
 * still-pending exports; a CREATE never exported and then deprovisioned cancels out.
 * Long because it is the batch's sequence: load, decide per identity and rule, then one bulk
 * write per table; the decision itself is decide.ts.
 */
export async function planExports(tx: pg.PoolClient, scope: PlanScope, identities: Identity[]) {
  const changes: RunChangeRow[] = [];
  const sink: PlanSink = {
    inserts: [],
    revisions: [],
    placeholders: [],
    disconnects: [],
    dropped: [],
    failed: 0,
    record: (row) => changes.push(row),
    newId: timeOrderedId,
    now: Date.now,
  };
  const { inserts, revisions, placeholders, disconnects, dropped } = sink;
  const batch = newPlanningBatch();
  if (!scope.rules.length || !identities.length) return { changes, exportsQueued: 0, failed: 0 };

  const targets = await loadTargets(
    tx,
    identities.map((i) => i.id),
    [...new Set(scope.rules.map((r) => r.systemId))],
  );
  const open = await loadOpenExports(
    tx,
    targets.map((t) => t.id),
  );
  // A refused DN fails this identity under this rule only: recorded, and planning goes on.
  const desiredOrRefused = async (rule: OutboundRule, identity: Identity, options: Parameters<typeof desiredState>[3]) => {
    try {
      return await desiredState(tx, rule, identity, options);
    } catch (e) {
      if (e instanceof RuleExpressionError) {
        sink.failed++;
        sink.record(expressionFailure(e, { mvoId: identity.id, sourceSystemId: rule.systemId }));
        return null;
      }
      if (!(e instanceof DnFlowError)) throw e;
      sink.failed++;
      const { code: errorCode, location, message } = e;
      sink.record({
        changeType: "RECORD_ERROR",
        mvoId: identity.id,
        syncRuleId: rule.id,
        sourceSystemId: rule.systemId,
        location,
        errorCode,
        message,
      });
      return null;
    }
  };
  // One lookup per identity and rule (a search of every target per pair was quadratic in the batch).
  await prefetchReferences(tx, batch, scope.rules, identities);
  const targetOf = new Map(targets.map((t) => [targetKey(t.mvoId, t.systemId, t.objectType), t]));
  const rulesByType = new Map<string, OutboundRule[]>();
  for (const rule of scope.rules) rulesByType.set(rule.metaverseType, [...(rulesByType.get(rule.metaverseType) ?? []), rule]);

  for (const identity of identities) {
    // A leaver the deletion rule keeps has no attributes left: nothing to compute a target from.
    const empty = identity.status === "ACTIVE" && Object.values(identity.attributes).every(isMissing);
    for (const rule of rulesByType.get(identity.type) ?? []) {
      const cso = targetOf.get(targetKey(identity.id, rule.systemId, rule.objectType));
      const exportsOf = cso ? (open.get(cso.id) ?? []) : [];
      let live: boolean;
      try {
        live = identity.status === "ACTIVE" && (await rule.inScope(identity.attributes));
      } catch (e) {
        // A scope that fails (or reaches a bound) leaves the target as it is: never a deprovision.
        if (!(e instanceof RuleExpressionError)) throw e;
        sink.failed++;
        sink.record(expressionFailure(e, { mvoId: identity.id, csoId: cso?.id ?? null, sourceSystemId: rule.systemId }));
        continue;
      }
      // The I/O of planning (unique values, references) happens here; the decision is pure.
      const desired =
        live && (cso || rule.provision)
          ? await desiredOrRefused(rule, identity, {
              creating: !cso,
              current: cso ? { ...cso.attributes, dn: cso.dn } : null,
              batch,
            })
          : null;
      if (desired?.unresolved) scope.unresolvedReferences?.add(identity.id);
      decide(sink, { identity, rule, cso, exportsOf, live, empty, desired });
    }
  }

  if (!scope.dryRun) {
    await insertPlaceholders(
      tx,
      placeholders.map((p) => {
        // Serialised once: the text hashed is the text stored (JSON.stringify again for COPY was
        // a second serialisation of every provisioned object).
        const attributesJson = canonicalJson(p.attributes);
        return { ...p, attributesJson, hash: contentHashOfJson(attributesJson) };
      }),
    );
    await insertExports(tx, scope.runId, inserts);
    await reviseExports(tx, revisions);
    await disconnectObjects(tx, disconnects);
    await deletePlaceholders(tx, dropped);
    const revised = await exportOwners(
      tx,
      revisions.map((r) => r.id),
    );
    await notifyExportChanges(
      scope.publish,
      tx,
      [
        ...inserts.map((e) => ({ id: e.id, systemId: e.systemId, runId: scope.runId })),
        ...revised.map((r) => ({ id: r.id, systemId: r.systemId, runId: scope.runId })),
      ],
      null,
    );
    for (const systemId of new Set(inserts.filter((e) => e.changeType === "DELETE").map((e) => e.systemId))) {
      const threshold = scope.deleteThresholds.get(systemId);
      if (threshold !== null && threshold !== undefined) await holdDeletesOverThreshold(tx, scope.runId, systemId, threshold);
    }
  }
  // A dry run counts what it would plan and says whether a breaker would hold it.
  if (scope.breaker) await applyBreakers(tx, scope.breaker, scope.runId, inserts, scope.publish);
  return { changes, exportsQueued: inserts.length, failed: sink.failed };
}

const targetKey = (mvoId: string, systemId: string, objectType: string) => `${mvoId}\u0000${systemId}\u0000${objectType}`;
