import type { ConnectorObject, ImportPage } from "../../connectors/connector.ts";
import type { PageSource } from "../import/run-import.ts";
import type { RunContext } from "../run-context.ts";
import { INBOX_APPLIED_TOPIC, type InboxEntry, lastWaitingId, markApplied, waitingEntries } from "./inbox-store.ts";

/** Where a REALTIME run is in the inbox: entries up to `afterId` are applied, up to `throughId` are its own. */
interface InboxPosition {
  afterId: string;
  throughId: string;
}

/**
 * The inbox as a delta import's pages: the entries that waited when the run started (later ones
 * are the next run's, so a run under a steady stream still ends), `pageSize` at a time, each
 * object's last entry of a page winning. The page's checkpoint is its last entry id, and the
 * entries are marked applied in the transaction that writes the page: exactly once.
 */
export function inboxSource(pageSize: number): PageSource {
  return {
    async *pages(ctx: RunContext, saved: unknown | null) {
      const position = (saved as InboxPosition | null) ?? {
        afterId: "0",
        throughId: await lastWaitingId(ctx.pool, ctx.system.id),
      };
      let afterId = position.afterId;
      for (;;) {
        const entries = await waitingEntries(ctx.pool, ctx.system.id, afterId, position.throughId, pageSize);
        if (!entries.length) return;
        afterId = entries.at(-1)!.id;
        yield toPage(entries, { afterId, throughId: position.throughId });
        if (entries.length < pageSize) return;
      }
    },
    async committed(tx, ctx, page) {
      // The ids read, never a range: an entry committed late with a lower id than one already
      // read (two pushes racing) is not among them, and waits for the next run instead of being
      // marked applied unread.
      await markApplied(tx, ctx.system.id, ctx.run.id, page.sourceIds ?? []);
      await ctx.publish?.(INBOX_APPLIED_TOPIC, { connectedSystemId: ctx.system.id }, tx);
    },
  };
}

function toPage(entries: InboxEntry[], checkpoint: InboxPosition): ImportPage {
  const last = new Map<string, InboxEntry>();
  for (const e of entries) {
    const key = `${e.objectType}\u0000${e.anchor}`;
    last.delete(key); // re-inserted: the page keeps the order of each object's last change
    last.set(key, e);
  }
  const objects: ConnectorObject[] = [];
  const deletes: ImportPage["deletes"] = [];
  for (const e of last.values()) {
    if (e.op === "delete") deletes.push({ objectType: e.objectType, anchor: e.anchor });
    else
      objects.push({ objectType: e.objectType, anchor: e.anchor, attributes: e.attributes ?? {}, ...(e.dn ? { dn: e.dn } : {}) });
  }
  return { objects, deletes, errors: [], checkpoint, sourceIds: entries.map((e) => e.id) };
}
