import type { Watcher, WatcherDeps } from "./watcher.ts";

export async function startSqlWatcher(_deps: WatcherDeps): Promise<Watcher> {
  throw new Error("not available yet");
}
