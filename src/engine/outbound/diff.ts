import type { AttributeChange, Attributes, AttributeValue } from "../../connectors/connector.ts";
import type { FlowValue } from "../expressions.ts";

const list = (v: FlowValue | undefined): AttributeValue[] => (v === null || v === undefined ? [] : Array.isArray(v) ? v : [v]);
const key = (v: AttributeValue) => String(v);

/**
 * Attribute-level changes that turn `current` into `desired`: single values are REPLACEd,
 * lists get ADD / REMOVE of the values that differ, a value that disappears is REMOVE_ALL.
 * Only attributes named in `desired` are managed.
 */
export function attributeChanges(desired: Record<string, FlowValue>, current: Attributes): AttributeChange[] {
  const changes: AttributeChange[] = [];
  for (const [attribute, want] of Object.entries(desired)) {
    const have = list(current[attribute]);
    const next = list(want);
    if (next.length === 0) {
      if (have.length) changes.push({ attribute, operation: "REMOVE_ALL", values: [] });
      continue;
    }
    // A single computed value means "exactly this value", even on a multi-valued attribute (LDAP
    // cn): REPLACE. Only a flow that yields a list is merged value by value (ADD / REMOVE).
    if (!Array.isArray(want)) {
      if (have.length !== 1 || key(have[0]!) !== key(next[0]!)) changes.push({ attribute, operation: "REPLACE", values: next });
      continue;
    }
    const haveSet = new Set(have.map(key));
    const nextSet = new Set(next.map(key));
    const add = next.filter((v) => !haveSet.has(key(v)));
    const remove = have.filter((v) => !nextSet.has(key(v)));
    if (add.length) changes.push({ attribute, operation: "ADD", values: add });
    if (remove.length) changes.push({ attribute, operation: "REMOVE", values: remove });
  }
  return changes;
}

/** The values an attribute would have after `changes` (for planned placeholders and undo). */
export function applyChanges(current: Attributes, changes: AttributeChange[]): Attributes {
  const out: Attributes = { ...current };
  for (const c of changes) {
    const have = list(out[c.attribute] ?? null);
    if (c.operation === "REPLACE") out[c.attribute] = c.values.length === 1 ? c.values[0]! : c.values;
    else if (c.operation === "REMOVE_ALL") delete out[c.attribute];
    else if (c.operation === "ADD") {
      // Sets, not list scans: a department group holds 100,000 members, and a scan per value
      // added (or kept) was quadratic in the group's size.
      const held = new Set(have.map(key));
      const next = [...have, ...c.values.filter((v) => !held.has(key(v)))];
      // A single value added to an absent attribute stays single-valued.
      out[c.attribute] = next.length === 1 && !Array.isArray(current[c.attribute]) ? next[0]! : next;
    } else {
      const removed = new Set(c.values.map(key));
      out[c.attribute] = have.filter((v) => !removed.has(key(v)));
    }
  }
  return out;
}

/**
 * Attributes in the shape an import of the system gives them: an attribute its discovered schema
 * calls multi-valued as a list, a single-valued one as its value. An export's expected state
 * then hashes as the next import's reading does, so that import finds the object unchanged
 * rather than writing it again (it did so for every object an export created: a directory's
 * cn sent as one value reads back as a list of one). Attributes the schema does not know stay
 * as they are.
 */
export function inImportShape(attributes: Attributes, rules: ReadonlyMap<string, { multiValued: boolean }> | undefined) {
  if (!rules) return attributes;
  const out: Attributes = {};
  for (const [name, value] of Object.entries(attributes)) {
    const rule = rules.get(name);
    const values = list(value ?? null);
    out[name] = !rule || value === null ? value : rule.multiValued ? values : values.length === 1 ? values[0]! : value;
  }
  return out;
}
