/**
 * JSON with object keys sorted at every level: equal documents give equal strings
 * whatever order PostgreSQL's jsonb or a connector returned their keys in.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object" && !(value instanceof Date)) {
    // No prototype: a key named "__proto__" (a CSV column, a pushed attribute) is a key like any
    // other, not the setter of a plain object's prototype, which dropped it from the JSON.
    const out: Record<string, unknown> = Object.create(null);
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}
