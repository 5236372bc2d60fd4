import type pg from "pg";
import type { FlowValue } from "../expressions.ts";
import type { DedupeMatch } from "../rule-config.ts";
import { dedupeSpec, normaliseKey, similarity, soundex } from "./keys.ts";
import type { InboundRule } from "./rules.ts";
import { findKeyHolders, loadMetaverseObjects, lookupKey, type SyncObject } from "./store.ts";

export interface ProjectedInBatch {
  mvoId: string;
  cso: SyncObject;
  rule: InboundRule;
  joinValues: string[][];
  dedupeValues?: Map<string, string[]>;
}

/** Identities projected earlier in the batch, indexed by their join keys. */
export class BatchProjections {
  readonly all: ProjectedInBatch[] = [];
  private readonly byKey = new Map<string, ProjectedInBatch>();

  static keysOf(rule: InboundRule, joinValues: string[][]) {
    return joinValues.flatMap((values, level) =>
      values.map((v) => `${rule.metaverseType}\u0000${rule.joinRules[level]?.metaverseAttribute}\u0000${v}`),
    );
  }

  add(item: ProjectedInBatch) {
    this.all.push(item);
    for (const key of BatchProjections.keysOf(item.rule, item.joinValues)) if (!this.byKey.has(key)) this.byKey.set(key, item);
  }

  sharingJoinKey(rule: InboundRule, joinValues: string[][]) {
    for (const key of BatchProjections.keysOf(rule, joinValues)) {
      const hit = this.byKey.get(key);
      if (hit) return { item: hit, attribute: key.split("\u0000")[1] };
    }
    return null;
  }
}

const asStrings = (v: FlowValue): string[] => (v === null ? [] : (Array.isArray(v) ? v : [v]).map(String));

async function dedupeValues(item: { cso: SyncObject; rule: InboundRule }): Promise<Map<string, string[]>> {
  const keys = new Set(item.rule.deduplication?.keys ?? []);
  const values = new Map<string, string[]>();
  for (const flow of item.rule.flows)
    if (keys.has(flow.target)) values.set(flow.target, asStrings(await flow.compute(item.cso.attributes)));
  return values;
}

/** Whether two values are the same identity's, per match kind (one entry per kind, checked by the compiler). */
export const DEDUPE_MATCHERS: Record<DedupeMatch, (a: string, b: string, threshold: number) => boolean> = {
  exact: (a, b) => normaliseKey(a) === normaliseKey(b),
  phonetic: (a, b) => soundex(a) !== "" && soundex(a) === soundex(b),
  fuzzy: (a, b, threshold) => similarity(a, b) >= threshold,
};

const matches = (match: DedupeMatch, threshold: number, a: string, b: string) => DEDUPE_MATCHERS[match](a, b, threshold);

/**
 * Is this object, about to be projected, the same identity as one already in the metaverse or
 * projected earlier in the batch? Same join key within the batch always counts; the rule's
 * deduplication keys add exact, phonetic (Soundex) or fuzzy (normalised Levenshtein) matching.
 */
export async function findDuplicate(
  tx: Pick<pg.PoolClient, "query">,
  cso: SyncObject,
  rule: InboundRule,
  joinValues: string[][],
  projected: BatchProjections,
  /** How keys are looked up (a partitioned sync claims them first: concurrent.ts). */
  find: (lookups: { type: string; attribute: string; value: string }[]) => ReturnType<typeof findKeyHolders> = (l) =>
    findKeyHolders(tx, cso.systemId, l),
): Promise<{ mvoId: string; reason: string } | null> {
  const shared = projected.sharingJoinKey(rule, joinValues);
  if (shared) return { mvoId: shared.item.mvoId, reason: `same ${shared.attribute} as ${shared.item.cso.anchor} in this batch` };

  const config = rule.deduplication;
  if (!config) return null;
  const values = await dedupeValues({ cso, rule });
  for (const other of projected.all) {
    if (other.rule.id !== rule.id) continue;
    other.dedupeValues ??= await dedupeValues(other);
    for (const [attribute, mineValues] of values)
      for (const a of mineValues)
        for (const b of other.dedupeValues.get(attribute) ?? [])
          if (matches(config.match, config.threshold, a, b))
            return { mvoId: other.mvoId, reason: `${config.match} match on ${attribute} with ${other.cso.anchor}` };
  }

  const lookups = [...values].flatMap(([attribute, vs]) => {
    const spec = dedupeSpec(config.match, attribute);
    return vs.map((v) => ({
      type: rule.metaverseType,
      attribute: spec.keyName,
      value: spec.derive(v),
      source: v,
      field: attribute,
    }));
  });
  const holders = await find(lookups);
  const candidates = lookups.flatMap((l) =>
    (holders.get(lookupKey(l.type, l.attribute, l.value)) ?? []).map((h) => ({ ...l, mvoId: h.mvoId })),
  );
  if (!candidates.length) return null;
  if (config.match !== "fuzzy")
    return { mvoId: candidates[0]!.mvoId, reason: `${config.match} match on ${candidates[0]!.field}` };
  const stored = await loadMetaverseObjects(tx, [...new Set(candidates.map((c) => c.mvoId))]);
  for (const c of candidates)
    for (const value of asStrings(stored.get(c.mvoId)?.attributes[c.field] ?? null))
      if (similarity(c.source, value) >= config.threshold)
        return { mvoId: c.mvoId, reason: `fuzzy match on ${c.field} (${value})` };
  return null;
}
