import type pg from "pg";
import { sameJson } from "../../util/canonical-json.ts";
import { expressionFailure } from "../rule-expression-error.ts";
import { attributeDiff, type ChangeOrigin, compactAttributeChange, type RunChangeRow } from "../run-changes.ts";
import { decideDeletion } from "./deletion-rules.ts";
import { type Contributor, type MergeResult, mergeMetaverseObject } from "./merge.ts";
import { type InboundRule, ruleFor } from "./rules.ts";
import type { LinkChange, SyncScope } from "./scope.ts";
import { loadConnectors, loadMetaverseObjects, type MetaverseRow, type MetaverseWrite, type SyncObject } from "./store.ts";

export interface RecomputeResult {
  writes: MetaverseWrite[];
  changes: RunChangeRow[];
  changedMvoIds: Set<string>;
  created: number;
  updated: number;
  deleted: number;
  failed: number;
}

const displayNameOf = (a: MergeResult["attributes"]) => {
  const pick = (k: string) => (typeof a[k] === "string" ? (a[k] as string) : null);
  return pick("displayName") ?? pick("cn") ?? ([pick("givenName"), pick("sn")].filter(Boolean).join(" ") || null);
};

/**
 * Recompute every metaverse object the batch touched from all of its connectors (after this
 * batch's joins and disconnections), apply deletion rules, and describe each change with the
 * rule and source behind every attribute. Long because the batch's identities are loaded once
 * and walked once; deletion rules, failures and change records are functions of their own.
 */
export async function recomputeMetaverseObjects(
  tx: Pick<pg.PoolClient, "query">,
  scope: SyncScope,
  links: LinkChange[],
  reflow: Set<string>,
  /** The batch's objects, read in this transaction: their identities' other objects are loaded. */
  page: SyncObject[],
): Promise<RecomputeResult> {
  const result: RecomputeResult = {
    writes: [],
    changes: [],
    changedMvoIds: new Set(),
    created: 0,
    updated: 0,
    deleted: 0,
    failed: 0,
  };
  const projected = new Map(links.filter((l) => l.kind === "PROJECTED").map((l) => [l.mvoId!, l]));
  const existingIds = new Set(reflow);
  for (const l of links) {
    if (l.mvoId && !projected.has(l.mvoId)) existingIds.add(l.mvoId);
    if (l.previousMvoId) existingIds.add(l.previousMvoId);
  }
  const current = await loadMetaverseObjects(tx, [...existingIds]);
  const others = await loadConnectors(tx, [...existingIds], {
    except: page.map((o) => o.id),
    contributing: [...new Set(scope.rules.map((r) => r.systemId))],
  });
  const connectors = groupConnectors([...page.filter((o) => o.mvoId && existingIds.has(o.mvoId)), ...others], links);

  for (const l of links) {
    const base = {
      csoId: l.cso.id,
      anchor: l.cso.anchor,
      syncRuleId: l.rule?.id ?? null,
      sourceSystemId: scope.systemId,
      message: l.reason ?? null,
    };
    if (l.kind !== "PROJECTED") result.changes.push({ ...base, changeType: l.kind, mvoId: l.mvoId ?? l.previousMvoId ?? null });
  }

  // Per identity, what this batch's links do to it (looked up per identity, not scanned: O(n)).
  const joinedHereIds = new Set(links.flatMap((l) => (l.mvoId && l.kind !== "DISCONNECTED" ? [l.mvoId] : [])));
  const leavingBy = new Map<string, LinkChange[]>();
  for (const l of links)
    if (l.kind === "DISCONNECTED" && l.previousMvoId)
      leavingBy.set(l.previousMvoId, [...(leavingBy.get(l.previousMvoId) ?? []), l]);

  for (const mvoId of [...existingIds, ...projected.keys()]) {
    const link = projected.get(mvoId);
    const before: MetaverseRow | undefined = current.get(mvoId);
    const mvo: MetaverseRow = before ?? {
      id: mvoId,
      type: link?.rule?.metaverseType ?? "",
      status: "ACTIVE",
      attributes: {},
      contributions: {},
      deletionDueAt: null,
    };
    const joinedHere = joinedHereIds.has(mvoId);
    if (mvo.status === "DELETED" && !joinedHere) continue;
    const members = connectors.get(mvoId) ?? [];

    // Failures are isolated per rule: a broken expression of one rule holds the attributes it
    // would have set and is recorded against that rule; every other rule's flows still apply.
    const { contributors, failures: scopeFailures } = await contributorsOf(scope.rules, mvo.type, members);
    const merged: MergeResult = await mergeMetaverseObject(mvo, contributors, {
      creating: !before,
      runId: scope.runId,
      syncingSystemId: scope.systemId,
      unavailableSystems: new Set(scopeFailures.map((f) => f.member.systemId)),
    });
    recordFailures(result, scope.systemId, mvoId, members, scopeFailures, merged);

    const inbound = members.filter((m) => m.joinType !== "PROVISIONED");
    const deletion = decideDeletion({
      mvo,
      leaving: leavingBy.get(mvoId) ?? [],
      inboundConnectors: inbound.length,
      joinedHere,
      systemId: scope.systemId,
      now: Date.now(),
    });
    const { status, deletionDueAt } = deletion;
    result.changes.push(...deletion.changes);

    const attributes = status === "DELETED" ? mvo.attributes : merged.attributes;
    const changed = !before || status !== mvo.status || !sameJson(attributes, mvo.attributes);
    // A conflict is news when it changed a value, or when it waits for a person (manual).
    for (const c of merged.conflicts)
      if (changed || c.strategy === "manual")
        result.changes.push({
          changeType: "CONFLICT_RESOLVED",
          mvoId,
          sourceSystemId: scope.systemId,
          attributeChanges: c,
          message: `${c.attribute}: ${c.strategy}`,
        });
    if (!changed) continue;

    recordChange(result, scope.systemId, { mvo, before, link, status, attributes, merged, deletionDueAt });
  }
  return result;
}

type ScopeFailure = Awaited<ReturnType<typeof contributorsOf>>["failures"][number];

/** Rules whose expressions failed for this identity: recorded against their rule and source. */
function recordFailures(
  result: RecomputeResult,
  systemId: string,
  mvoId: string,
  members: SyncObject[],
  scopeFailures: ScopeFailure[],
  merged: MergeResult,
) {
  const failures = [
    ...scopeFailures.map((f) => ({ csoId: f.member.id, anchor: f.member.anchor, systemId: f.member.systemId, error: f.error })),
    ...merged.failures.map((f) => ({
      csoId: f.contributor.csoId,
      anchor: members.find((m) => m.id === f.contributor.csoId)?.anchor ?? null,
      systemId: f.contributor.systemId,
      error: f.error,
    })),
  ];

  for (const f of failures)
    result.changes.push(expressionFailure(f.error, { mvoId, csoId: f.csoId, anchor: f.anchor, sourceSystemId: f.systemId }));
  // The run's own records failed; another system's rule failing is recorded for it, not counted here.
  if (failures.some((f) => f.systemId === systemId)) result.failed++;
}

/** A changed identity: counted, described (projected, updated or deleted) and queued for writing. */
function recordChange(
  result: RecomputeResult,
  systemId: string,
  c: {
    mvo: MetaverseRow;
    before: MetaverseRow | undefined;
    link: LinkChange | undefined;
    status: MetaverseRow["status"];
    attributes: MergeResult["attributes"];
    merged: MergeResult;
    deletionDueAt: Date | null;
  },
) {
  const { mvo, before, link, status, attributes, merged, deletionDueAt } = c;
  result.changedMvoIds.add(mvo.id);
  if (!before) {
    result.created++;
    const origin = { syncRuleId: link?.rule?.id ?? null, sourceSystemId: systemId };
    result.changes.push({
      changeType: "PROJECTED",
      csoId: link?.cso.id,
      anchor: link?.cso.anchor,
      mvoId: mvo.id,
      ...origin,
      attributeChanges: attributeDiffs(mvo, attributes, merged.contributions, origin),
    });
  } else if (status === "DELETED" || status === "PENDING_DELETION") result.deleted += mvo.status === status ? 0 : 1;
  else {
    result.updated++;
    const origin = { syncRuleId: null, sourceSystemId: systemId };
    const diffs = attributeDiffs(mvo, attributes, merged.contributions, origin);
    if (diffs.length) result.changes.push({ changeType: "MVO_UPDATED", mvoId: mvo.id, ...origin, attributeChanges: diffs });
  }
  result.writes.push({
    id: mvo.id,
    created: !before && link !== undefined,
    type: mvo.type,
    status,
    attributes,
    contributions: status === "DELETED" ? mvo.contributions : merged.contributions,
    displayName: displayNameOf(attributes),
    deletionDueAt,
  });
}

/** Stored connectors per metaverse object, with this batch's link changes applied. */
function groupConnectors(stored: SyncObject[], links: LinkChange[]) {
  const leaving = new Set(links.filter((l) => l.kind === "DISCONNECTED").map((l) => l.cso.id));
  const groups = new Map<string, SyncObject[]>();
  const add = (mvoId: string, cso: SyncObject) => {
    const list = groups.get(mvoId) ?? [];
    if (!list.some((c) => c.id === cso.id)) list.push(cso);
    groups.set(mvoId, list);
  };
  for (const c of stored) if (c.mvoId && !leaving.has(c.id) && c.status === "NORMAL") add(c.mvoId, c);
  for (const l of links)
    if (l.mvoId && l.kind !== "DISCONNECTED")
      add(l.mvoId, { ...l.cso, mvoId: l.mvoId, joinType: l.joinType, joinedAt: Date.now() });
  return groups;
}

async function contributorsOf(rules: InboundRule[], type: string, members: SyncObject[]) {
  const contributors: Contributor[] = [];
  const failures: { member: SyncObject; error: unknown }[] = [];
  for (const m of members) {
    let rule: InboundRule | null;
    try {
      rule = await ruleFor(rules, m.systemId, m.objectType, m.attributes);
    } catch (error) {
      failures.push({ member: m, error });
      continue;
    }
    if (rule && rule.metaverseType === type)
      contributors.push({
        csoId: m.id,
        systemId: m.systemId,
        rule,
        attributes: m.attributes,
        joinedAt: m.joinedAt,
        importedAt: m.importedAt,
      });
  }
  return { contributors, failures };
}

/**
 * [{ attribute, before, after, syncRuleId, sourceSystemId }]: who set (or removed) each value,
 * compacted for storage against the run change row it goes in (see compactAttributeChange).
 */
function attributeDiffs(
  mvo: MetaverseRow,
  after: MergeResult["attributes"],
  contributions: MergeResult["contributions"],
  row: ChangeOrigin,
) {
  const diffs: ReturnType<typeof compactAttributeChange>[] = [];
  for (const attribute of new Set([...Object.keys(mvo.attributes), ...Object.keys(after)])) {
    const b = mvo.attributes[attribute] ?? null;
    const a = after[attribute] ?? null;
    if (sameJson(a, b)) continue;
    const by = contributions[attribute] ?? mvo.contributions[attribute];
    diffs.push(
      compactAttributeChange(
        { ...attributeDiff(attribute, b, a), syncRuleId: by?.ruleId ?? null, sourceSystemId: by?.systemId ?? null },
        row,
      ),
    );
  }
  return diffs;
}
