import type pg from "pg";
import type { AttributeChange, Attributes } from "../../connectors/connector.ts";
import { exportedFor, markConfirmed, markMismatched } from "../pending-export/confirmation.ts";
import type { RunChangeRow } from "../run-changes.ts";

const norm = (v: unknown) => String(v).trim().toLowerCase();
const values = (v: Attributes[string] | undefined) => (v === null || v === undefined ? [] : Array.isArray(v) ? v : [v]).map(norm);

/** The first planned change the imported object does not show, or null when all are there. */
function mismatch(
  changes: (AttributeChange & { status?: string })[],
  seen: { attributes: Attributes; dn: string | null },
): string | null {
  for (const c of changes) {
    if (c.status === "AWAITING_REFERENCE") continue;
    const have = c.attribute === "dn" ? (seen.dn ? [norm(seen.dn)] : []) : values(seen.attributes[c.attribute]);
    const want = c.values.map(norm);
    const ok =
      c.operation === "REMOVE_ALL"
        ? have.length === 0
        : c.operation === "REMOVE"
          ? want.every((v) => !have.includes(v))
          : c.operation === "REPLACE"
            ? want.length === have.length && want.every((v) => have.includes(v))
            : want.every((v) => have.includes(v));
    if (!ok)
      return `${c.attribute}: expected ${c.operation} ${JSON.stringify(c.values)}, the system shows ${JSON.stringify(seen.attributes[c.attribute] ?? null)}`;
  }
  return null;
}

/**
 * The import that follows an export confirms it: every EXPORTED change whose values the system
 * now shows becomes CONFIRMED (a DELETE when the object is gone); a mismatch is flagged FAILED
 * with CONFIRMATION_MISMATCH, so it is retried and visible.
 */
export async function confirmExports(
  tx: Pick<pg.PoolClient, "query">,
  seen: Map<string, { attributes: Attributes; dn: string | null }>,
  gone: string[],
): Promise<RunChangeRow[]> {
  const ids = [...seen.keys(), ...gone];
  if (!ids.length) return [];
  const rows = await exportedFor(tx, ids);
  const confirmed: string[] = [];
  const flagged: { id: string; message: string }[] = [];
  const goneSet = new Set(gone);
  for (const r of rows) {
    const object = seen.get(r.cso);
    if (r.change_type === "DELETE") {
      if (goneSet.has(r.cso)) confirmed.push(r.id);
      else if (object) flagged.push({ id: r.id, message: "the deleted object is still in the system" });
      continue;
    }
    if (!object) continue;
    const problem = mismatch(r.attribute_changes, object);
    if (problem) flagged.push({ id: r.id, message: problem });
    else confirmed.push(r.id);
  }
  await markConfirmed(tx, confirmed);
  await markMismatched(tx, flagged);
  return [
    ...confirmed.map((id) => ({ changeType: "EXPORT_CONFIRMED", pendingExportId: id })),
    ...flagged.map((f) => ({
      changeType: "EXPORT_MISMATCH",
      pendingExportId: f.id,
      errorCode: "CONFIRMATION_MISMATCH",
      message: f.message,
    })),
  ];
}
