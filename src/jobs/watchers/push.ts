import type pg from "pg";
import type { ImportPage } from "../../connectors/connector.ts";
import { inTransaction } from "../../db/transaction.ts";
import { INBOX_TOPIC, type PushedRecord, pushEntries } from "../../engine/realtime/inbox-store.ts";
import type { EventBus } from "../../events/bus.ts";

export interface PushDeps {
  pool: pg.Pool;
  bus: EventBus;
}

/** An import page's objects and deletes as inbox records, attributes exactly as the connector read them. */
export function pageRecords(page: Pick<ImportPage, "objects" | "deletes">): PushedRecord[] {
  return [
    ...page.objects.map(
      (o): PushedRecord => ({
        op: "upsert",
        objectType: o.objectType,
        anchor: o.anchor,
        attributes: o.attributes,
        ...(o.dn ? { dn: o.dn } : {}),
      }),
    ),
    ...page.deletes.map((d): PushedRecord => ({ op: "delete", objectType: d.objectType, anchor: d.anchor })),
  ];
}

/**
 * Store records in the system's inbox as a webhook push does (pushEntries, workers woken on
 * commit), and `alsoInTransaction` (the watcher's position) in the same transaction: a position
 * never moves past a change that is not durable. Returns how many records were stored.
 */
export async function pushToInbox(
  deps: PushDeps,
  systemId: string,
  records: PushedRecord[],
  alsoInTransaction?: (tx: pg.PoolClient) => Promise<void>,
): Promise<number> {
  if (!records.length && !alsoInTransaction) return 0;
  return inTransaction(deps.pool, async (tx) => {
    if (records.length) {
      await pushEntries(tx, systemId, records);
      await deps.bus.publish(INBOX_TOPIC, { connectedSystemId: systemId }, tx);
    }
    await alsoInTransaction?.(tx);
    return records.length;
  });
}
