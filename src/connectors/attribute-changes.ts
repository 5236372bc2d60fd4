import type { AttributeChange, Attributes, AttributeValue } from "./connector.ts";
import { ConnectorError } from "./connector.ts";

/**
 * Applies attribute-level export operations to an object's current attributes, for systems
 * that store whole values (CSV cells, SQL columns) rather than offering ADD/REMOVE natively.
 * An attribute with no values is absent (never `null` or `[]`), as the connectors import it.
 * Throws ConnectorError SCHEMA_VIOLATION when a single-valued attribute would get several values.
 */
export function applyAttributeChanges(
  current: Attributes,
  changes: AttributeChange[],
  isMultiValued: (attribute: string) => boolean,
): Attributes {
  const next: Attributes = { ...current };
  for (const change of changes) {
    const existing = valuesOf(next[change.attribute]);
    let values: AttributeValue[];
    switch (change.operation) {
      case "REPLACE":
        values = change.values;
        break;
      case "REMOVE_ALL":
        values = [];
        break;
      case "ADD":
        values = [...existing, ...change.values.filter((v) => !existing.some((e) => sameValue(e, v)))];
        break;
      case "REMOVE":
        values = existing.filter((e) => !change.values.some((v) => sameValue(e, v)));
        break;
    }
    if (values.length === 0) {
      delete next[change.attribute];
    } else if (isMultiValued(change.attribute)) {
      next[change.attribute] = values;
    } else if (values.length === 1) {
      next[change.attribute] = values[0] as AttributeValue;
    } else {
      throw new ConnectorError(
        "SCHEMA_VIOLATION",
        `attribute "${change.attribute}" is single-valued; ${change.operation} would leave ${values.length} values`,
        false,
      );
    }
  }
  return next;
}

export function valuesOf(value: Attributes[string] | undefined): AttributeValue[] {
  if (value === null || value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

// "42" from a CSV cell and 42 from the engine name the same value.
function sameValue(a: AttributeValue, b: AttributeValue): boolean {
  return String(a) === String(b);
}
