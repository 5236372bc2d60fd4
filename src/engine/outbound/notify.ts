import type pg from "pg";
import type { RunContext } from "../run-context.ts";

/** Bus topic of every pending export state change, engine and API alike; payload {@link PendingExportEvent}. */
export const PENDING_EXPORTS_TOPIC = "pendingExports";

export interface PendingExportEvent {
  id: string;
  /** Several exports changed together (an engine batch); `id` is the first of them. */
  ids?: string[];
  connectedSystemId: string;
  /** The run that planned the export. */
  runId: string | null;
  /** The run that executed it, when one did. */
  exportRunId: string | null;
}
/** NOTIFY payloads are limited to 8,000 bytes: ~150 uuids per message. */
const IDS_PER_MESSAGE = 150;

/**
 * Tell every API process which pending exports changed, on commit of `tx`: one message per
 * system and chunk of ids (the pendingExportChanged subscription loads them), not one per export.
 */
export async function notifyExportChanges(
  publish: RunContext["publish"],
  tx: pg.PoolClient,
  changed: { id: string; systemId: string; runId: string | null }[],
  exportRunId: string | null,
) {
  if (!publish || !changed.length) return;
  // Grouped by system and planning run: the subscription filters on both.
  const groups = new Map<string, { systemId: string; runId: string | null; ids: string[] }>();
  for (const c of changed) {
    const key = `${c.systemId}/${c.runId}`;
    const group = groups.get(key) ?? { systemId: c.systemId, runId: c.runId, ids: [] };
    group.ids.push(c.id);
    groups.set(key, group);
  }
  for (const { systemId, runId, ids } of groups.values())
    for (let i = 0; i < ids.length; i += IDS_PER_MESSAGE) {
      const event: PendingExportEvent = {
        id: ids[i]!,
        ids: ids.slice(i, i + IDS_PER_MESSAGE),
        connectedSystemId: systemId,
        runId,
        exportRunId,
      };
      await publish(PENDING_EXPORTS_TOPIC, { ...event }, tx);
    }
}
