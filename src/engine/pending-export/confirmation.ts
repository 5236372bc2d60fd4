import type pg from "pg";
import type { AttributeChange } from "../../connectors/connector.ts";

/** Pending exports as the next import confirms them: CONFIRMED, or FAILED on a mismatch. */
type Q = Pick<pg.PoolClient, "query">;

/**
 * Whether any export of the system awaits confirmation. An import holds the system's connector
 * space scope, so no export of it can run meanwhile: asked once per import, it spares every
 * batch a pending-export lookup when nothing was exported.
 */
export async function hasExportsAwaitingConfirmation(q: Q, systemId: string): Promise<boolean> {
  const { rows } = await q.query(
    "SELECT EXISTS (SELECT 1 FROM pending_export WHERE connected_system_id = $1 AND status = 'EXPORTED') AS awaiting",
    [systemId],
  );
  return rows[0]?.awaiting === true;
}

/** Exports awaiting confirmation of the given objects. */
export async function exportedFor(
  q: Q,
  csoIds: string[],
): Promise<{ id: string; cso: string; change_type: string; attribute_changes: (AttributeChange & { status?: string })[] }[]> {
  const { rows } = await q.query(
    "SELECT id, connector_space_object_id AS cso, change_type, attribute_changes FROM pending_export WHERE status = 'EXPORTED' AND connector_space_object_id = ANY($1::uuid[])",
    [csoIds],
  );
  return rows;
}

/** Exports an import saw applied: CONFIRMED. */
export async function markConfirmed(tx: Q, ids: string[]) {
  if (ids.length)
    await tx.query(
      "UPDATE pending_export SET status = 'CONFIRMED', confirmed_at = now(), updated_at = now() WHERE id = ANY($1::uuid[])",
      [ids],
    );
}

/** Exports an import did not see applied: FAILED with CONFIRMATION_MISMATCH, retried at once. */
export async function markMismatched(tx: Q, flagged: { id: string; message: string }[]) {
  if (flagged.length)
    await tx.query(
      `UPDATE pending_export p SET status = 'FAILED', error_count = p.error_count + 1, last_error = t.message,
              last_error_code = 'CONFIRMATION_MISMATCH', next_retry_at = now(), updated_at = now()
         FROM unnest($1::uuid[], $2::text[]) AS t(id, message) WHERE p.id = t.id`,
      [flagged.map((f) => f.id), flagged.map((f) => f.message)],
    );
}
