import { LdapConfigSchema } from "../../connectors/ldap/config.ts";
import { presentAnchors } from "../../connectors/ldap/present-anchors.ts";
import { createImportContext } from "../../engine/import/context.ts";
import { loadWatermark } from "../../engine/import/store.ts";
import { createWatchContext } from "../../engine/realtime/watch-context.ts";
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
 * With "entryCSN" a delete leaves nothing to poll: then, at start and every DELETE_SCAN_MS, the
 * anchors in the directory (anchor and object classes only) are compared with connector space
 * and the waiting inbox, and those gone are pushed as deletes.
 *
 * The watermark lives in watcher_state, apart from the connector's delta-import watermark (a
 * REALTIME run does not move that one, and a DELTA_IMPORT must not move this one), and is saved
 * in the transaction that pushed the last page read up to it. A first start takes the last
 * import's watermark: what changed since that import is pushed, nothing older again.
 */
/** How often a directory without accesslog is compared whole for deletes (one anchors-only search). */
export const DELETE_SCAN_MS = 60_000;

export async function startLdapWatcher(deps: WatcherDeps): Promise<Watcher> {
  const log = deps.logger.child({ watcher: "ldap" });
  const connector = await deps.connect();
  const context = createImportContext(deps.pool, deps.system.id);
  const config = LdapConfigSchema.parse(deps.config);
  const scanDeletes = config.deltaStrategy !== "accesslog";
  const projected = createWatchContext(deps.pool, deps.system.id);
  let lastScan = 0;
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
    // After the poll, in the same pass: an entry added since is not pushed yet, so it cannot be
    // among the projected anchors while missing from the search (no false delete).
    if (scanDeletes && Date.now() - lastScan >= DELETE_SCAN_MS) {
      pushed += await pushDeletes();
      lastScan = Date.now();
    }
    if (pushed) log.info({ pushed }, "directory changes pushed to the inbox");
  };
  const pushDeletes = async () => {
    const present = await presentAnchors(config);
    if (!present) {
      log.warn("some entries could not be mapped (or the schema is unreadable): deletes not checked this time");
      return 0;
    }
    let pushed = 0;
    for (const [objectType, anchors] of present)
      for await (const stored of projected.storedAnchors(objectType)) {
        const gone = stored.filter((a) => !anchors.has(a)).map((anchor) => ({ op: "delete" as const, objectType, anchor }));
        pushed += await pushToInbox(deps, deps.system.id, gone);
      }
    return pushed;
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
