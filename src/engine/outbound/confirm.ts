import type pg from "pg";
import type { AttributeChange, Attributes } from "../../connectors/connector.ts";
import { exportedFor, markConfirmed, markMismatched } from "../pending-export/confirmation.ts";
import type { RunChangeRow } from "../run-changes.ts";

const norm = (v: unknown) => String(v).trim().toLowerCase();
const values = (v: Attributes[string] | undefined) => (v === null || v === undefined ? [] : Array.isArray(v) ? v : [v]).map(norm);

/** The first planned change the imported object does not show, or null when all are there. */
export function mismatch(
  changes: (AttributeChange & { status?: string })[],
  seen: { attributes: Attributes; dn: string | null },
): string | null {
  for (const c of changes) {
    if (c.status === "AWAITING_REFERENCE") continue;
    const have = c.attribute === "dn" ? (seen.dn ? [norm(seen.dn)] : []) : values(seen.attributes[c.attribute]);
    const want = c.values.map(norm);
    // A set, not a scan of `have` per value: confirming a group created with 100,000 members
    // compared every member with every other.
    const held = new Set(have);
    const ok =
      c.operation === "REMOVE_ALL"
        ? have.length === 0
        : c.operation === "REMOVE"
          ? want.every((v) => !held.has(v))
          : c.operation === "REPLACE"
            ? want.length === have.length && want.every((v) => held.has(v))
            : want.every((v) => held.has(v));
    if (!ok) return describe(c, want, have, held, seen.attributes[c.attribute]);
  }
  return null;
}

/** Values a message lists at most: a 100,000-member group's lists would make a message of megabytes. */
const LISTED = 5;

function describe(c: AttributeChange, want: string[], have: string[], held: Set<string>, shown: Attributes[string] | undefined) {
  if (want.length <= LISTED && have.length <= LISTED)
    return `${c.attribute}: expected ${c.operation} ${JSON.stringify(c.values)}, the system shows ${JSON.stringify(shown ?? null)}`;
  const listed = (values: string[]) =>
    `${JSON.stringify(values.slice(0, LISTED))}${values.length > LISTED ? ` and ${values.length - LISTED} more` : ""}`;
  const expected = `${c.attribute}: expected ${c.operation} of ${want.length} values, the system shows ${have.length}`;
  if (c.operation === "REMOVE") return `${expected}, still with ${listed(want.filter((v) => held.has(v)))}`;
  const lacking = want.filter((v) => !held.has(v));
  if (lacking.length) return `${expected}, lacking ${listed(lacking)}`;
  const wanted = new Set(want);
  return `${expected}, also ${listed(have.filter((v) => !wanted.has(v)))}`;
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
