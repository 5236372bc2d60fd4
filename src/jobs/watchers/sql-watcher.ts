import pg from "pg";
import {
  CHANGE_CHANNEL,
  changeLogInstalled,
  forgetChanges,
  loadTable,
  readByAnchors,
  readChanges,
} from "../../connectors/sql/change-log.ts";
import { SqlConfigSchema } from "../../connectors/sql/config.ts";
import { connectionSettings } from "../../connectors/sql/connection.ts";
import { quoteIdent } from "../../connectors/sql/identifiers.ts";
import { pushToInbox } from "./push.ts";
import { DEFAULT_POLL_INTERVAL_MS } from "./settings.ts";
import { serialPasses, type Watcher, type WatcherDeps } from "./watcher.ts";

/** Logged changes read per pass step: one row read and one inbox transaction per this many. */
const STEP = 1000;

/**
 * A PostgreSQL source table with change notifications installed (src/connectors/sql/change-log.ts,
 * installChangeNotifications). The watcher LISTENs on its own connection to the source database;
 * a notification (or the poll, which also catches what a lost connection missed) reads the
 * system's change log: for each logged anchor, the row as it is now is pushed (an upsert), or
 * its absence (a delete). The log rows are deleted only after the inbox transaction committed:
 * a crash in between pushes them again, which the inbox and the import absorb. The log is the
 * watcher's whole position, so a restarted watcher continues where the last one stopped.
 */
export async function startSqlWatcher(deps: WatcherDeps): Promise<Watcher> {
  const config = SqlConfigSchema.parse(deps.config);
  const consumer = deps.system.id;
  const log = deps.logger.child({ watcher: "sql", table: `${config.schema}.${config.table}` });
  let client: pg.Client | null = null;
  let warnedMissing = false;

  const connection = async (): Promise<pg.Client> => {
    if (client) return client;
    const next = new pg.Client({ ...connectionSettings(config), application_name: "metasync-watcher" });
    next.on("error", (err) => {
      log.warn({ err: err.message }, "source connection lost; reconnecting at the next poll");
      if (client === next) client = null;
    });
    next.on("notification", (n) => {
      if (n.channel === CHANGE_CHANNEL && n.payload === consumer) passes.trigger();
    });
    await next.connect();
    await next.query(`LISTEN ${quoteIdent(CHANGE_CHANNEL)}`);
    client = next;
    return next;
  };

  const pass = async () => {
    let c: pg.Client;
    try {
      c = await connection();
    } catch (err) {
      log.warn({ err: (err as Error).message }, "cannot reach the source database; trying again at the next poll");
      return;
    }
    try {
      if (!(await changeLogInstalled(c, config, consumer))) {
        if (!warnedMissing) log.warn("change notifications are not installed: run installChangeNotifications for this system");
        warnedMissing = true;
        return;
      }
      warnedMissing = false;
      const table = await loadTable(c, config);
      let pushed = 0;
      for (;;) {
        const changes = await readChanges(c, config, consumer, STEP);
        if (!changes.ids.length) break;
        const { objects, missing } = await readByAnchors(c, config, table, changes.anchors);
        pushed += await pushToInbox(deps, deps.system.id, [
          ...objects.map((o) => ({
            op: "upsert" as const,
            objectType: o.objectType,
            anchor: o.anchor,
            attributes: o.attributes,
          })),
          ...missing.map((anchor) => ({ op: "delete" as const, objectType: config.objectType, anchor })),
        ]);
        await forgetChanges(c, config, changes.ids);
        if (changes.ids.length < STEP) break;
      }
      if (pushed) log.info({ pushed }, "table changes pushed to the inbox");
    } catch (err) {
      // A broken connection is replaced at the next pass; the log still holds what was not pushed.
      if (client === c) client = null;
      await c.end().catch(() => {});
      throw err;
    }
  };
  const passes = serialPasses(pass, (err) => log.warn({ err }, "reading the change log failed; trying again at the next poll"));
  const poll = setInterval(() => passes.trigger(), deps.settings.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS);
  await passes.now();
  log.info("watching");

  return {
    async stop() {
      clearInterval(poll);
      await passes.stop();
      await client?.end().catch(() => {});
      client = null;
    },
  };
}
