/**
 * JSON with object keys sorted at every level: equal documents give equal strings
 * whatever order PostgreSQL's jsonb or a connector returned their keys in.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

/**
 * canonicalJson(a) === canonicalJson(b), without serialising anything but the values that are
 * not plain lists or documents: a department group's 100,000 members were written out twice,
 * sorted key by key, each time a sync looked at the group.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (isDocument(a) && isDocument(b)) {
    // Keys holding undefined are left out, as JSON leaves them out. Own keys only: an attribute
    // named "constructor" missing on one side must not meet Object's.
    const defined = (doc: Record<string, unknown>) => Object.keys(doc).filter((key) => doc[key] !== undefined);
    const keys = defined(a);
    if (keys.length !== defined(b).length) return false;
    for (const key of keys) if (!Object.hasOwn(b, key) || !sameJson(a[key], b[key])) return false;
    return true;
  }
  // Two different primitives never serialise alike; a Date does as its ISO text.
  return (typeof a === "object" || typeof b === "object") && canonicalJson(a) === canonicalJson(b);
}

const isDocument = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);

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
