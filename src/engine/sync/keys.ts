import type { FlowValue } from "../expressions.ts";
import type { DedupeMatch, Deduplication, JoinRule } from "../rule-config.ts";

/**
 * How a metaverse attribute is indexed in metaverse_key: exact (join rules, exact dedupe),
 * phonetic (Soundex code) or a short prefix (candidate blocking for fuzzy dedupe).
 */
export interface KeySpec {
  attribute: string;
  keyName: string;
  derive(value: string): string;
}

export const normaliseKey = (v: unknown) => String(v).trim().toLowerCase();

const exact = (attribute: string): KeySpec => ({ attribute, keyName: attribute, derive: normaliseKey });
const phonetic = (attribute: string): KeySpec => ({ attribute, keyName: `~soundex:${attribute}`, derive: (v) => soundex(v) });
const prefix = (attribute: string): KeySpec => ({
  attribute,
  keyName: `~prefix:${attribute}`,
  derive: (v) => normaliseKey(v).slice(0, 2),
});

/** What key specs are derived from: an inbound rule's target type, join rules and dedupe keys. */
export interface KeyedRule {
  metaverseType: string;
  joinRules: readonly Pick<JoinRule, "metaverseAttribute">[];
  deduplication: Pick<Deduplication, "keys" | "match"> | null;
}

/** Key specs per metaverse type, from every inbound rule's join rules and dedupe keys. */
export function keySpecs(rules: readonly KeyedRule[]): Map<string, KeySpec[]> {
  const specs = new Map<string, Map<string, KeySpec>>();
  const add = (type: string, spec: KeySpec) => {
    let byName = specs.get(type);
    if (!byName) specs.set(type, (byName = new Map()));
    byName.set(spec.keyName, spec);
  };
  for (const rule of rules) {
    for (const j of rule.joinRules) add(rule.metaverseType, exact(j.metaverseAttribute));
    for (const key of rule.deduplication?.keys ?? [])
      add(rule.metaverseType, dedupeSpec(rule.deduplication?.match ?? "exact", key));
  }
  return new Map([...specs].map(([type, byName]) => [type, [...byName.values()]]));
}

/** The key each match kind stores: a kind added to DEDUPE_MATCHES does not compile until it has one. */
const DEDUPE_SPECS: Record<DedupeMatch, (attribute: string) => KeySpec> = { exact, phonetic, fuzzy: prefix };

export function dedupeSpec(match: DedupeMatch, attribute: string): KeySpec {
  return DEDUPE_SPECS[match](attribute);
}

/** The key rows of one metaverse object's attributes. */
export function keysFor(specs: KeySpec[], attributes: Record<string, FlowValue>): { attribute: string; value: string }[] {
  const keys: { attribute: string; value: string }[] = [];
  for (const spec of specs) {
    const value = attributes[spec.attribute];
    if (value === null || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      const derived = spec.derive(String(v));
      if (derived) keys.push({ attribute: spec.keyName, value: derived });
    }
  }
  return keys;
}

/** American Soundex: names that sound alike share a code (Robert, Rupert -> R163). */
export function soundex(input: string): string {
  const s = input.toUpperCase().replace(/[^A-Z]/g, "");
  if (!s) return "";
  const codes: Record<string, string> = {
    B: "1",
    F: "1",
    P: "1",
    V: "1",
    C: "2",
    G: "2",
    J: "2",
    K: "2",
    Q: "2",
    S: "2",
    X: "2",
    Z: "2",
    D: "3",
    T: "3",
    L: "4",
    M: "5",
    N: "5",
    R: "6",
  };
  let out = s[0]!;
  let last = codes[s[0]!] ?? "";
  for (const ch of s.slice(1)) {
    const code = codes[ch] ?? "";
    if (code && code !== last) out += code;
    // H and W do not separate equal codes; vowels do.
    if (ch !== "H" && ch !== "W") last = code;
    if (out.length === 4) break;
  }
  return out.padEnd(4, "0");
}

/** 1 - Levenshtein distance / longer length: 1 = equal, 0 = nothing alike. */
export function similarity(a: string, b: string): number {
  const x = normaliseKey(a);
  const y = normaliseKey(b);
  if (x === y) return 1;
  if (!x.length || !y.length) return 0;
  let prev = Array.from({ length: y.length + 1 }, (_, i) => i);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++)
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    prev = row;
  }
  return 1 - prev[y.length]! / Math.max(x.length, y.length);
}
