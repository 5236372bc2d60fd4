import type pg from "pg";
import type { Connector } from "../../connectors/connector.ts";
import type { RealtimeSettings } from "../../engine/realtime/inbox-store.ts";
import type { EventBus } from "../../events/bus.ts";
import type { Logger } from "../../logger.ts";
import type { WatchedKind } from "./settings.ts";

/** What one watcher is given: its system, that system's current config, and how to reach the inbox. */
export interface WatcherDeps {
  pool: pg.Pool;
  bus: EventBus;
  logger: Logger;
  system: { id: string; name: string; kind: WatchedKind };
  /** The full config (secrets included) of the system's current settings version. */
  config: Record<string, unknown>;
  settings: RealtimeSettings;
  /** Folders file connectors may use (METASYNC_FILE_ROOTS). */
  fileRoots: readonly string[];
  /** A connector for the system, built as runs build theirs. */
  connect(): Promise<Connector>;
}

/** A running watcher: pushes its source's changes into the inbox until stopped. */
export interface Watcher {
  stop(): Promise<void>;
}

export type WatcherFactory = (deps: WatcherDeps) => Promise<Watcher>;

/**
 * Runs `work` whenever `trigger()` is called, never twice at once: a trigger during a pass
 * runs one more pass after it (changes seen during a pass are not lost), many triggers during
 * a pass run one. `delayMs` debounces bursts (a file written in several chunks).
 */
export function serialPasses(work: () => Promise<void>, onError: (err: unknown) => void, delayMs = 0) {
  let running = false;
  let again = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> = Promise.resolve();
  const run = async () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        await work().catch(onError);
      } while (again && !stopped);
    } finally {
      running = false;
    }
  };
  return {
    trigger() {
      if (stopped || timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        current = run();
      }, delayMs);
    },
    /** Runs a pass now and resolves when it (and any pass it queued) is done. */
    async now() {
      current = run();
      await current;
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current;
    },
  };
}
