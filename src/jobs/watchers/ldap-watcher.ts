import { createImportContext } from "../../engine/import/context.ts";
import { loadWatermark } from "../../engine/import/store.ts";
import { loadWatcherPosition, saveWatcherPosition } from "../../engine/realtime/watcher-state.ts";
import { canonicalJson } from "../../util/canonical-json.ts";
import { pageRecords, pushToInbox } from "./push.ts";
import { DEFAULT_POLL_INTERVAL_MS } from "./settings.ts";
import { serialPasses, type Watcher, type WatcherDeps } from "./watcher.ts";

/**
 * An LDAP directory polled every pollIntervalMs with the LDAP connector's own delta read:
 * entries whose entryCSN moved past the watcher's watermark (the base's contextCSN, read before
 * the search), mapped exactly as an import maps them (object type, anchor, DN, multi-valued
 * arrays), and, with deltaStrategy "accesslog", the deletes the accesslog overlay recorded.
 * With "entryCSN" a delete leaves nothing to poll: it shows up at the next full import.
 *
 * The watermark lives in watcher_state, apart from the connector's delta-import watermark (a
 * REALTIME run does not move that one, and a DELTA_IMPORT must not move this one), and is saved
 * in the transaction that pushed the last page read up to it. A first start takes the last
 * import's watermark: what changed since that import is pushed, nothing older again.
 */
export async function startLdapWatcher(deps: WatcherDeps): Promise<Watcher> {
  const log = deps.logger.child({ watcher: "ldap" });
  const connector = await deps.connect();
  const context = createImportContext(deps.pool, deps.system.id);
  let watermark = (await loadWatcherPosition(deps.pool, deps.system.id)) ?? (await loadWatermark(deps.pool, deps.system.id));

  const poll = async () => {
    let pushed = 0;
    for await (const page of connector.importDelta(watermark, null, context)) {
      for (const error of page.errors) log.warn({ location: error.location, code: error.code }, error.message);
      const records = pageRecords(page);
      const next = page.watermark;
      // An unchanged directory answers with no record and the same watermark: nothing to write.
      const moved = next !== undefined && canonicalJson(next) !== canonicalJson(watermark);
      pushed += await pushToInbox(
        deps,
        deps.system.id,
        records,
        moved ? (tx) => saveWatcherPosition(tx, deps.system.id, next) : undefined,
      );
      if (moved) watermark = next;
    }
    if (pushed) log.info({ pushed }, "directory changes pushed to the inbox");
  };
  const passes = serialPasses(poll, (err) => log.warn({ err }, "polling the directory failed; trying again at the next poll"));
  const timer = setInterval(() => passes.trigger(), deps.settings.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS);
  await passes.now();
  log.info("watching");

  return {
    async stop() {
      clearInterval(timer);
      await passes.stop();
      await connector.close();
    },
  };
}
