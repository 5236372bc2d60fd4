import type { Watcher, WatcherDeps } from "./watcher.ts";

export async function startLdapWatcher(_deps: WatcherDeps): Promise<Watcher> {
  throw new Error("not available yet");
}
