import { randomUUID } from "node:crypto";

/**
 * A time-ordered UUID (version 7 layout: 48-bit millisecond timestamp, then random bits).
 * Rows the engine creates in bulk get ids that grow with time, so the primary key and the
 * indexes that lead with such an id take their inserts at the right edge of the B-tree instead
 * of dirtying a random leaf page (and writing its full-page image) per row.
 */
export function timeOrderedId(): string {
  const random = randomUUID();
  const time = Date.now().toString(16).padStart(12, "0");
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${random.slice(15)}`;
}
