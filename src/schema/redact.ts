import { isSealedValue } from "../secrets.ts";

/** What the API shows instead of a sealed value (e.g. an imported userPassword). */
export const SECRET_PLACEHOLDER = "[secret]";

/**
 * The same JSON with every sealed value replaced by SECRET_PLACEHOLDER: secret attributes are
 * stored sealed and never returned, not even as ciphertext. Untouched values keep their identity,
 * so documents without secrets cost one walk and no copies.
 */
export function redactSealed<T>(value: T): T {
  if (isSealedValue(value)) return SECRET_PLACEHOLDER as T;
  if (Array.isArray(value)) {
    const out = value.map(redactSealed);
    return (out.some((v, i) => v !== value[i]) ? out : value) as T;
  }
  if (value !== null && typeof value === "object") {
    let copy: Record<string, unknown> | null = null;
    for (const [k, v] of Object.entries(value)) {
      const r = redactSealed(v);
      if (r !== v) (copy ??= { ...(value as Record<string, unknown>) })[k] = r;
    }
    return (copy ?? value) as T;
  }
  return value;
}
