import type { Attributes } from "../../connectors/connector.ts";
import type { FlowValue } from "../expressions.ts";
import type { ConflictStrategy, DedupeStrategy } from "../rule-config.ts";
import type { InboundRule } from "./rules.ts";

/** A connector space object joined to the metaverse object, with the rule that flows it. */
export interface Contributor {
  csoId: string;
  systemId: string;
  rule: InboundRule;
  attributes: Attributes;
  joinedAt: number;
  importedAt: number;
}

/** Who set an attribute: read by precedence decisions, loop prevention and history. */
export interface Contribution {
  systemId: string;
  ruleId: string;
  runId: string;
  precedence: number;
}

export interface FieldConflict {
  attribute: string;
  strategy: ConflictStrategy;
  candidates: { systemId: string; csoId: string; value: FlowValue }[];
  winner: { systemId: string; value: FlowValue } | null;
}

/** A flow that threw on one contributor (its error names the rule, flow and expression). */
export interface FlowFailure {
  contributor: Contributor;
  target: string;
  error: unknown;
}

export interface MergeResult {
  attributes: Record<string, FlowValue>;
  contributions: Record<string, Contribution>;
  conflicts: FieldConflict[];
  failures: FlowFailure[];
}

export interface Candidate {
  contributor: Contributor;
  value: FlowValue;
  completeness: number;
}

/** Equal as JSON (two different strings never are: no need to serialise them). */
const same = (a: unknown, b: unknown) =>
  a === b || ((typeof a !== "string" || typeof b !== "string") && JSON.stringify(a) === JSON.stringify(b));
const filled = (attributes: Attributes) =>
  Object.values(attributes).filter((v) => v !== null && v !== "" && !(Array.isArray(v) && !v.length)).length;

/**
 * The metaverse object's attributes recomputed from every joined connector: for each attribute
 * the lowest precedence number that has a value wins (ties: deduplication strategy, then first
 * joined). Different values from several sources are a field conflict, resolved by the strategy
 * of the highest-precedence rule and reported. Long because precedence, contributions and
 * conflicts are decided per attribute in one loop over the contributors.
 */
export async function mergeMetaverseObject(
  current: { attributes: Record<string, FlowValue>; contributions: Record<string, Contribution> },
  contributors: Contributor[],
  options: {
    creating: boolean;
    runId: string;
    syncingSystemId: string;
    /** Joined systems whose rule could not be chosen (its scope failed): what they contributed is held. */
    unavailableSystems?: ReadonlySet<string>;
  },
): Promise<MergeResult> {
  const byAttribute = new Map<string, Candidate[]>();
  const failures: FlowFailure[] = [];
  // Attribute -> best precedence among sources that failed to say anything about it. A failure
  // holds the current value (a broken expression must not remove or replace data) unless a
  // source of strictly higher precedence supplies the attribute anyway.
  const held = new Map<string, number>();
  const hold = (attribute: string, precedence: number) =>
    held.set(attribute, Math.min(precedence, held.get(attribute) ?? Number.POSITIVE_INFINITY));
  if (options.unavailableSystems?.size)
    for (const [attribute, c] of Object.entries(current.contributions))
      if (options.unavailableSystems.has(c.systemId)) hold(attribute, c.precedence);
  for (const contributor of contributors) {
    // Only keep_most_complete orders by completeness: counted once per contributor, and only then.
    const strategy = contributor.rule.deduplication?.strategy;
    const completeness = strategy && ORDERS_BY_COMPLETENESS[strategy] ? filled(contributor.attributes) : 0;
    for (const flow of contributor.rule.flows) {
      let value: FlowValue;
      const owned = current.contributions[flow.target]?.systemId === contributor.systemId;
      if (flow.initialOnly && !options.creating && (current.attributes[flow.target] ?? null) !== null)
        value = owned ? (current.attributes[flow.target] ?? null) : null;
      else
        try {
          const computed = flow.compute(contributor.attributes);
          value = computed instanceof Promise ? await computed : computed;
        } catch (error) {
          failures.push({ contributor, target: flow.target, error });
          hold(flow.target, contributor.rule.precedence);
          continue;
        }
      // One value is stored as a value, whatever the source's schema says (LDAP declares uid and
      // mail multi-valued): rules write `uid`, not `uid[0]`. Outbound planning gives each target
      // attribute the shape its own schema declares.
      if (Array.isArray(value) && value.length === 1) value = value[0]!;
      if (value === null) continue;
      let list = byAttribute.get(flow.target);
      if (!list) byAttribute.set(flow.target, (list = []));
      list.push({ contributor, value, completeness });
    }
  }

  const attributes: Record<string, FlowValue> = {};
  const contributions: Record<string, Contribution> = {};
  const conflicts: FieldConflict[] = [];
  const keepCurrent = (attribute: string) => {
    if (current.attributes[attribute] === undefined) return;
    attributes[attribute] = current.attributes[attribute] ?? null;
    if (current.contributions[attribute]) contributions[attribute] = current.contributions[attribute];
  };
  for (const [attribute, precedence] of held) {
    const best = byAttribute.get(attribute)?.reduce((p, c) => Math.min(p, c.contributor.rule.precedence), Infinity);
    if (best !== undefined && best < precedence) continue;
    byAttribute.delete(attribute);
    keepCurrent(attribute);
  }
  for (const [attribute, candidates] of byAttribute) {
    if (candidates.length > 1) candidates.sort((a, b) => order(a, b));
    const first = candidates[0]!;
    const strategy: ConflictStrategy = first.contributor.rule.conflictStrategy ?? "precedence";
    let winner: Candidate | null = first;
    if (
      candidates.length > 1 &&
      new Set(candidates.map((c) => JSON.stringify(c.value))).size > 1 &&
      candidates.some((c) => c.contributor.systemId !== first.contributor.systemId)
    ) {
      winner = resolveConflict(strategy, candidates, current.attributes[attribute] ?? null, options.syncingSystemId);
      conflicts.push({
        attribute,
        strategy,
        candidates: candidates.map((c) => ({ systemId: c.contributor.systemId, csoId: c.contributor.csoId, value: c.value })),
        winner: winner ? { systemId: winner.contributor.systemId, value: winner.value } : null,
      });
    }
    if (!winner) {
      // manual: the current value stays until someone decides.
      keepCurrent(attribute);
      continue;
    }
    attributes[attribute] = winner.value;
    const previous = current.contributions[attribute];
    const unchanged =
      same(current.attributes[attribute] ?? null, winner.value) && previous?.systemId === winner.contributor.systemId;
    contributions[attribute] = {
      systemId: winner.contributor.systemId,
      ruleId: winner.contributor.rule.id,
      precedence: winner.contributor.rule.precedence,
      runId: unchanged && previous ? previous.runId : options.runId,
    };
  }
  return { attributes, contributions, conflicts, failures };
}

function order(a: Candidate, b: Candidate): number {
  if (a.contributor.rule.precedence !== b.contributor.rule.precedence)
    return a.contributor.rule.precedence - b.contributor.rule.precedence;
  const strategy = a.contributor.rule.deduplication?.strategy;
  if (a.contributor.systemId === b.contributor.systemId && strategy && ORDERS_BY_COMPLETENESS[strategy])
    if (a.completeness !== b.completeness) return b.completeness - a.completeness;
  return a.contributor.joinedAt - b.contributor.joinedAt;
}

/** Whether a deduplication strategy lets a source's fuller record win among its own duplicates. */
const ORDERS_BY_COMPLETENESS: Record<DedupeStrategy, boolean> = {
  keep_first: false,
  keep_most_complete: true,
  merge_fields: false,
};

/** The winner among conflicting candidates (sorted by precedence, then join order); null = keep the current value. */
export interface ConflictSituation {
  candidates: readonly Candidate[];
  currentValue: FlowValue;
  syncingSystemId: string;
}
type Resolver = (s: ConflictSituation) => Candidate | null;

/** One resolver per strategy: a strategy added to the enum does not compile until it has one here. */
const RESOLVERS: Record<ConflictStrategy, Resolver> = {
  precedence: ({ candidates }) => candidates[0]!,
  newest_wins: ({ candidates }) =>
    candidates.reduce((best, c) => (c.contributor.importedAt > best.contributor.importedAt ? c : best)),
  source_wins: ({ candidates, syncingSystemId }) =>
    candidates.find((c) => c.contributor.systemId === syncingSystemId) ?? candidates[0]!,
  target_wins: ({ candidates, currentValue }) => candidates.find((c) => same(c.value, currentValue)) ?? candidates[0]!,
  // manual: the current value stays until someone decides (a new attribute takes the first).
  manual: ({ candidates, currentValue }) =>
    currentValue === null ? candidates[0]! : (candidates.find((c) => same(c.value, currentValue)) ?? null),
};

export function resolveConflict<C extends Candidate>(
  strategy: ConflictStrategy,
  candidates: readonly C[],
  currentValue: FlowValue,
  syncingSystemId: string,
): C | null {
  return RESOLVERS[strategy]({ candidates, currentValue, syncingSystemId }) as C | null;
}
