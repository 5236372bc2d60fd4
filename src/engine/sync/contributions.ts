import type { Contribution } from "./merge.ts";

/**
 * How `metaverse_object.contributions` is stored. Most attributes of an identity come from the
 * same system, rule, run and precedence: each distinct contributor is written once under "$"
 * and each attribute names it by index ({ "$": [c0, c1], "mail": 1, "sn": 0 }). Measured: about
 * a third of the per-attribute form, which was the larger half of a projected identity's row.
 * Readers go through unpackContributions, which also reads the per-attribute form.
 */
type Packed = { $?: Contribution[] } & Record<string, number | Contribution | Contribution[] | undefined>;

export function packContributions(contributions: Record<string, Contribution>): Packed {
  // An identity has a handful of distinct contributors: a linear search beats building keys.
  const list: Contribution[] = [];
  const packed: Packed = { $: list };
  for (const attribute in contributions) {
    const c = contributions[attribute]!;
    let i = list.findIndex(
      (o) => o.systemId === c.systemId && o.ruleId === c.ruleId && o.runId === c.runId && o.precedence === c.precedence,
    );
    if (i < 0) i = list.push({ systemId: c.systemId, ruleId: c.ruleId, runId: c.runId, precedence: c.precedence }) - 1;
    packed[attribute] = i;
  }
  return packed;
}

export function unpackContributions(stored: unknown): Record<string, Contribution> {
  if (!stored || typeof stored !== "object") return {};
  const packed = stored as Packed;
  const list = Array.isArray(packed.$) ? packed.$ : [];
  const contributions: Record<string, Contribution> = {};
  for (const [attribute, value] of Object.entries(packed)) {
    if (attribute === "$") continue;
    const c = typeof value === "number" ? list[value] : (value as Contribution | undefined);
    if (c) contributions[attribute] = c;
  }
  return contributions;
}
