import { type FSWatcher, watch } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { FileRoots } from "../../connectors/file-roots.ts";
import { createWatchContext } from "../../engine/realtime/watch-context.ts";
import { pageRecords, pushToInbox } from "./push.ts";
import { DEFAULT_POLL_INTERVAL_MS } from "./settings.ts";
import { serialPasses, type Watcher, type WatcherDeps } from "./watcher.ts";

/** A file is often written in several chunks (or truncated, then written): wait for it to settle. */
const DEBOUNCE_MS = 150;

/**
 * A CSV file watched on disk. On a change the CSV connector's own delta read runs (rows whose
 * content hash differs from connector space + waiting inbox, then stored anchors missing from
 * the file) and its pages go to the inbox. That comparison is the watcher's whole state: a
 * watcher started (or restarted) compares the file as it is now, so a change made while no
 * watcher ran is pushed then, and nothing already stored is pushed again.
 *
 * fs.watch watches the folder, not the file: editors and exporters often replace a file by
 * renaming a new one over it, which ends a watch on the old inode. A poll of the file's size and
 * modification time backs it up (network file systems send no events).
 */
export async function startCsvWatcher(deps: WatcherDeps): Promise<Watcher> {
  const path = await new FileRoots(deps.fileRoots).resolve(String(deps.config.path));
  const log = deps.logger.child({ watcher: "csv", file: basename(path) });
  const connector = await deps.connect();
  const context = createWatchContext(deps.pool, deps.system.id);
  let seen: string | null = null;

  const scan = async () => {
    const version = await fileVersion(path);
    if (version === null || version === seen) return;
    let pushed = 0;
    // No watermark, no checkpoint: every row is compared with what is (or will be) stored.
    for await (const page of connector.importDelta(null, null, context)) {
      for (const error of page.errors) log.warn({ location: error.location, code: error.code }, error.message);
      pushed += await pushToInbox(deps, deps.system.id, pageRecords(page));
    }
    seen = version;
    if (pushed) log.info({ pushed }, "file changes pushed to the inbox");
  };
  const passes = serialPasses(
    scan,
    (err) => log.warn({ err }, "watching the file failed; trying again at the next change"),
    DEBOUNCE_MS,
  );

  let fsWatcher: FSWatcher | null = null;
  try {
    fsWatcher = watch(dirname(path), (_event, name) => {
      if (name === null || name === basename(path)) passes.trigger();
    });
    fsWatcher.on("error", (err) => log.warn({ err }, "file events stopped; polling only"));
  } catch (err) {
    log.warn({ err }, "no file events for this folder; polling only");
  }
  const poll = setInterval(() => passes.trigger(), deps.settings.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS);
  await passes.now();
  log.info("watching");

  return {
    async stop() {
      clearInterval(poll);
      fsWatcher?.close();
      await passes.stop();
      await connector.close();
    },
  };
}

/** Size and modification time (ns): a new version of the file; null while it is missing. */
async function fileVersion(path: string): Promise<string | null> {
  try {
    const s = await stat(path, { bigint: true });
    return `${s.size}:${s.mtimeNs}:${s.ino}`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}
