import type { Attributes, ConnectorObject, RecordError } from "../../connectors/connector.ts";

export interface AttributeRule {
  type: "STRING" | "INTEGER" | "BOOLEAN" | "DATETIME" | "BINARY" | "REFERENCE" | "GUID";
  multiValued: boolean;
  required: boolean;
}

/** objectType -> attribute -> rule, from the discovered schema (attribute_definition). */
export type ImportSchema = Map<string, Map<string, AttributeRule>>;

const checks: Record<AttributeRule["type"], (v: unknown) => boolean> = {
  STRING: (v) => typeof v === "string" || typeof v === "number" || typeof v === "boolean",
  INTEGER: (v) => (typeof v === "number" && Number.isInteger(v)) || (typeof v === "string" && /^-?\d+$/.test(v.trim())),
  BOOLEAN: (v) => typeof v === "boolean" || (typeof v === "string" && /^(true|false|0|1|yes|no)$/i.test(v.trim())),
  DATETIME: (v) => (typeof v === "string" || typeof v === "number") && !Number.isNaN(new Date(v).getTime()),
  BINARY: (v) => typeof v === "string" && /^[A-Za-z0-9+/]*={0,2}$/.test(v),
  REFERENCE: (v) => typeof v === "string",
  GUID: (v) => typeof v === "string",
};

const isEmpty = (v: Attributes[string] | undefined) =>
  v === undefined || v === null || v === "" || (Array.isArray(v) && v.length === 0);

/**
 * Check one imported object against the discovered schema: anchor present, required
 * attributes present, values of the declared type and cardinality. Unknown attributes pass:
 * a schema refresh may simply be behind the source. `locate` names the record in an error (only
 * called when needed: this runs for every imported object).
 */
export function validateObject(object: ConnectorObject, schema: ImportSchema, locate: () => string): RecordError | null {
  const missing = anchorError(object, locate);
  if (missing) return missing;
  const rules = schema.get(object.objectType);
  if (!rules) return null;
  for (const [name, rule] of rules) {
    // Own values only: an attribute named "__proto__" or "constructor" that the object lacks is
    // missing, not Object.prototype's.
    const value = Object.hasOwn(object.attributes, name) ? object.attributes[name] : undefined;
    if (isEmpty(value)) {
      if (rule.required)
        return {
          location: locate(),
          code: "SCHEMA_VIOLATION",
          message: `required attribute ${name} is missing`,
          anchor: object.anchor,
        };
      continue;
    }
    if (Array.isArray(value) && !rule.multiValued && value.length > 1)
      return {
        location: locate(),
        code: "SCHEMA_VIOLATION",
        message: `attribute ${name} is single-valued but has ${value.length} values`,
        anchor: object.anchor,
      };
    for (const v of Array.isArray(value) ? value : [value]) {
      if (!checks[rule.type](v))
        return {
          location: locate(),
          code: "SCHEMA_VIOLATION",
          message: `attribute ${name} must be ${rule.type.toLowerCase()}, got ${JSON.stringify(v).slice(0, 60)}`,
          anchor: object.anchor,
        };
    }
  }
  return null;
}

/** An object without an anchor cannot be stored or looked up: checked before anything else. */
export function anchorError(object: ConnectorObject, locate: () => string): RecordError | null {
  return typeof object.anchor !== "string" || object.anchor.trim() === ""
    ? { location: locate(), code: "INVALID_INPUT", message: "missing anchor" }
    : null;
}
