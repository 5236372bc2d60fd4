/**
 * JSON with object keys sorted at every level: equal documents give equal strings
 * whatever order PostgreSQL's jsonb or a connector returned their keys in.
 */
export function canonicalJson(value: unknown): string {
  return flatCanonicalJson(value) ?? JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object" && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

const plain = (v: unknown) =>
  v === null || typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));

/**
 * The common case, a plain object of strings, numbers, booleans, nulls and arrays of those
 * (every imported attribute document), written directly without building a sorted copy: the
 * content hash of every imported object goes through here. Returns null for anything else,
 * which takes the general path; both give the same string.
 */
function flatCanonicalJson(value: unknown): string | null {
  if (!value || typeof value !== "object" || Object.getPrototypeOf(value) !== Object.prototype) return null;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let out = "{";
  for (const key of keys) {
    const v = record[key];
    if (v === undefined) continue;
    if (Array.isArray(v)) {
      for (const item of v) if (!plain(item)) return null;
    } else if (!plain(v)) return null;
    out += `${out.length > 1 ? "," : ""}${JSON.stringify(key)}:${JSON.stringify(v)}`;
  }
  return `${out}}`;
}
