import type pg from "pg";
import type { DedupeStrategy } from "../rule-config.ts";
import { expressionFailure, RuleExpressionError } from "../rule-expression-error.ts";
import type { RunChangeRow } from "../run-changes.ts";
import { findHolders } from "./concurrent.ts";
import { BatchProjections, findDuplicate } from "./dedupe.ts";
import { newMetaverseId } from "./metaverse-id.ts";
import type { InboundRule } from "./rules.ts";
import type { LinkChange, SyncScope } from "./scope.ts";
import { lookupKey, type SyncObject } from "./store.ts";

interface Pending {
  cso: SyncObject;
  rule: InboundRule;
  /** Normalised join values per join rule level, for in-batch duplicate checks. */
  joinValues: string[][];
}

/**
 * Join unjoined in-scope objects: the ordered join rules are tried level by level with one
 * key lookup per level for the whole batch; the first level with exactly one free candidate
 * joins, several candidates are a recorded JOIN_CONFLICT (never a guess). What nothing joins is
 * projected when the rule says so, unless it duplicates an identity this source already has:
 * then the rule's deduplication strategy decides, and without one it is a recorded error.
 * Long because joins, projections and the batch's duplicate check are one set-based pass.
 */
export async function resolveJoins(tx: pg.PoolClient, scope: SyncScope, unjoined: { cso: SyncObject; rule: InboundRule }[]) {
  const links: LinkChange[] = [];
  const changes: RunChangeRow[] = [];
  let failed = 0;
  const claimed = new Set<string>();
  let pending: Pending[] = unjoined.map((u) => ({ ...u, joinValues: [] }));
  const levels = Math.max(0, ...unjoined.map((u) => u.rule.joinRules.length));

  for (let level = 0; level < levels && pending.length; level++) {
    const lookups: { type: string; attribute: string; value: string }[] = [];
    const joinFailed = new Set<Pending>();
    for (const p of pending) {
      const join = p.rule.joinRules[level];
      let values: string[] = [];
      try {
        if (join) values = await join.values(p.cso.attributes);
      } catch (e) {
        // Neither joined nor projected: an object whose join key cannot be computed could duplicate an identity.
        failed++;
        joinFailed.add(p);
        changes.push(expressionFailure(e, { csoId: p.cso.id, anchor: p.cso.anchor, sourceSystemId: scope.systemId }));
        continue;
      }
      p.joinValues[level] = values;
      if (join)
        for (const value of values) lookups.push({ type: p.rule.metaverseType, attribute: join.metaverseAttribute, value });
    }
    const holders = await findHolders(tx, scope, lookups);
    const next: Pending[] = [];
    for (const p of pending) {
      if (joinFailed.has(p)) continue;
      const join = p.rule.joinRules[level];
      if (!join) {
        next.push(p);
        continue;
      }
      const candidates = new Map<string, boolean>();
      for (const value of p.joinValues[level] ?? [])
        for (const h of holders.get(lookupKey(p.rule.metaverseType, join.metaverseAttribute, value)) ?? [])
          candidates.set(h.mvoId, h.joinedBySystem || claimed.has(h.mvoId));
      const free = [...candidates].filter(([, taken]) => !taken).map(([id]) => id);
      const taken = [...candidates].filter(([, t]) => t).map(([id]) => id);
      if (free.length === 1) {
        claimed.add(free[0]!);
        links.push({
          cso: p.cso,
          rule: p.rule,
          mvoId: free[0]!,
          joinType: "JOINED",
          kind: "JOINED",
          reason: `join rule ${level + 1}: ${join.metaverseAttribute}`,
        });
      } else if (free.length > 1) {
        failed++;
        changes.push({
          changeType: "JOIN_CONFLICT",
          csoId: p.cso.id,
          anchor: p.cso.anchor,
          syncRuleId: p.rule.id,
          sourceSystemId: scope.systemId,
          attributeChanges: { attribute: join.metaverseAttribute, values: p.joinValues[level], candidates: free },
          message: `${free.length} metaverse objects match ${join.metaverseAttribute}; not joined`,
        });
      } else if (taken.length) {
        const outcome = duplicateOutcome(
          p,
          taken[0]!,
          scope,
          `same ${join.metaverseAttribute} as an identity this source already has`,
        );
        failed += outcome.failed;
        links.push(...outcome.links);
        changes.push(...outcome.changes);
      } else next.push(p);
    }
    pending = next;
  }

  const projected = new BatchProjections();
  for (const p of pending) {
    if (!p.rule.projectToMetaverse) continue;
    let duplicate: Awaited<ReturnType<typeof findDuplicate>>;
    try {
      duplicate = await findDuplicate(tx, p.cso, p.rule, p.joinValues, projected, (l) => findHolders(tx, scope, l));
    } catch (e) {
      // A deduplication key that cannot be computed: projecting could duplicate an identity.
      if (!(e instanceof RuleExpressionError)) throw e;
      failed++;
      changes.push(expressionFailure(e, { csoId: p.cso.id, anchor: p.cso.anchor, sourceSystemId: scope.systemId }));
      continue;
    }
    if (duplicate) {
      const outcome = duplicateOutcome(p, duplicate.mvoId, scope, duplicate.reason);
      failed += outcome.failed;
      links.push(...outcome.links);
      changes.push(...outcome.changes);
      continue;
    }
    const mvoId = newMetaverseId();
    projected.add({ mvoId, cso: p.cso, rule: p.rule, joinValues: p.joinValues });
    links.push({ cso: p.cso, rule: p.rule, mvoId, joinType: "PROJECTED", kind: "PROJECTED" });
  }
  return { links, changes, failed };
}

/** Whether a strategy joins the duplicate to the identity (true) or leaves it out (false). */
const JOINS_DUPLICATE: Record<DedupeStrategy, boolean> = { keep_first: false, keep_most_complete: true, merge_fields: true };

/** keep_first leaves the duplicate out; keep_most_complete / merge_fields join it to the identity. */
function duplicateOutcome(p: Pending, mvoId: string, scope: SyncScope, reason: string) {
  const base = { csoId: p.cso.id, anchor: p.cso.anchor, syncRuleId: p.rule.id, sourceSystemId: scope.systemId, mvoId };
  const strategy = p.rule.deduplication?.strategy;
  if (!strategy)
    return {
      failed: 1,
      links: [],
      changes: [
        {
          ...base,
          changeType: "RECORD_ERROR",
          errorCode: "DUPLICATE_IDENTITY",
          message: `${reason}; configure deduplication on rule ${p.rule.name}`,
        },
      ],
    };
  if (!JOINS_DUPLICATE[strategy])
    return {
      failed: 0,
      links: [],
      changes: [{ ...base, changeType: "DUPLICATE_SKIPPED", message: `${reason}; ${strategy} keeps the existing identity` }],
    };
  return {
    failed: 0,
    links: [
      {
        cso: p.cso,
        rule: p.rule,
        mvoId,
        joinType: "JOINED" as const,
        kind: "DUPLICATE_MERGED" as const,
        reason: `${reason}; ${strategy}`,
      },
    ],
    changes: [],
  };
}
