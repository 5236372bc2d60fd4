import { setImmediate as nextTurn } from "node:timers/promises";
import type { EventBus } from "../events/bus.ts";
import { latestStream } from "./latest-stream.ts";
import { isFinalStatus } from "./operations.ts";
import { RUNS_TOPIC, type RunChangedPayload } from "./progress.ts";

/**
 * On average at most one message per this many ms per run reaches a subscriber (~10/s). The
 * hold is also the delay a batch may wait before anyone sees it: with 200 ms, 1,000 dashboards
 * following a full sync saw progress p99 ~300 ms late where a status change (never held) took
 * ~70-100 ms. The fan-out was made cheaper per message (latest-stream.ts) and the window halved.
 */
export const COALESCE_MS = 100;
/**
 * Messages of a run that may go out back to back before the window applies: the partitions of a
 * full sync commit their batches independently, often a few ms apart, and with a burst of one the
 * second batch of such a pair waited out the whole window.
 */
export const COALESCE_BURST = 2;
/** Subscribers served per event-loop turn: between chunks, requests (/healthz, queries) get their turn. */
export const FAN_OUT_CHUNK = 100;

export interface RunRow {
  id: string;
  status: string;
  connectedSystemId: string;
}

type Loader<T> = (runId: string) => Promise<T | null>;

/**
 * Run changes for every subscriber of one process, from one bus subscription. A change of a run
 * schedules ONE reload of its row, at most one per `intervalMs` on average with up to `burst` in
 * a row (a token bucket: changes arriving while it waits fold into it, and it always runs after
 * the last change it covers, so a final status is never dropped); a change of the run's status
 * is not held back (a run has a handful of them, and the final one is what a dashboard waits
 * for). That row is then handed to every subscriber of the run, a chunk per event-loop turn. Per subscriber and per change there
 * is no query and no timer: 2,000 subscribers of one run used to mean 2,000 reloads per change,
 * and their delivery held the event loop for seconds.
 */
export interface RunFeed<T extends RunRow> {
  /** One run: its current state at once, then its changes; ends after a final status. */
  run(runId: string): AsyncIterableIterator<T>;
  /** Runs of one system (or all): the `active` ones at once, then every change. Never ends by itself. */
  runs(active: () => Promise<string[]>, connectedSystemId: string | null): AsyncIterableIterator<T>;
  close(): Promise<void>;
}

interface Watcher<T> {
  /** Only runs of this system (runs()); null: all. */
  systemId: string | null;
  deliver(row: T): void;
  /** Runs this watcher has been sent a row of (its first state must not overwrite a newer one). */
  seen: Set<string>;
}

export function createRunFeed<T extends RunRow>(
  bus: EventBus,
  load: Loader<T>,
  options: { intervalMs?: number; burst?: number; chunk?: number } = {},
): RunFeed<T> {
  const intervalMs = options.intervalMs ?? COALESCE_MS;
  // A reload may begin once now >= due - slack (generic cell rate algorithm).
  const slack = ((options.burst ?? COALESCE_BURST) - 1) * intervalMs;
  const chunk = options.chunk ?? FAN_OUT_CHUNK;
  const ofRun = new Map<string, Set<Watcher<T>>>();
  const ofAll = new Set<Watcher<T>>();
  // Per run: when its next reload is due at the average rate, the reload waiting for its turn,
  // whether a reload is queued but has not read the row yet, the status the last change announced.
  const timing = new Map<string, { due: number; timer: NodeJS.Timeout | null; queued: boolean; status: string | null }>();
  let chain: Promise<unknown> = Promise.resolve();
  let events: AsyncIterableIterator<Record<string, unknown>> | null = null;
  let pump: Promise<void> | null = null;
  let closed = false;

  const watchersOf = (row: T) => [
    ...(ofRun.get(row.id) ?? []),
    ...[...ofAll].filter((w) => w.systemId === null || w.systemId === row.connectedSystemId),
  ];

  const reload = (runId: string) => {
    const queued = timing.get(runId);
    if (queued) Object.assign(queued, { timer: null, queued: true });
    chain = chain
      .then(async () => {
        const t = timing.get(runId);
        if (t) Object.assign(t, { queued: false, due: Math.max(t.due, Date.now()) + intervalMs });
        const row = closed ? null : await load(runId);
        if (!row) return;
        // Nobody listens to a finished run any more once this row is out: forget its timing.
        if (isFinalStatus(row.status)) timing.delete(runId);
        const watchers = watchersOf(row);
        for (let i = 0; i < watchers.length; i++) {
          if (i > 0 && i % chunk === 0) await nextTurn();
          watchers[i]!.seen.add(row.id);
          watchers[i]!.deliver(row);
        }
      })
      .catch(() => {});
  };

  const changed = ({ runId, status }: RunChangedPayload) => {
    if (closed || (!ofRun.has(runId) && ofAll.size === 0)) return;
    let t = timing.get(runId);
    if (!t) timing.set(runId, (t = { due: 0, timer: null, queued: false, status: null }));
    const newStatus = status !== t.status;
    t.status = status;
    // A reload that has not read the row yet will see this change too.
    if (t.queued) return;
    if (newStatus) {
      if (t.timer) clearTimeout(t.timer);
      return reload(runId);
    }
    if (t.timer) return;
    t.timer = setTimeout(() => reload(runId), Math.max(0, t.due - slack - Date.now()));
  };

  // The bus subscription opens with the first subscriber and stays for the feed's life.
  const listen = () => {
    if (events || closed) return;
    const subscription = bus.subscribe(RUNS_TOPIC);
    events = subscription;
    pump = (async () => {
      for await (const raw of subscription) changed(raw as RunChangedPayload);
    })().catch(() => {});
  };

  /** A subscriber's stream: rows arrive through `deliver`, newest per run, never queued unboundedly. */
  const stream = (
    register: (w: Watcher<T>) => () => void,
    systemId: string | null,
    first: (w: Watcher<T>) => Promise<void>,
    endsWith: (row: T) => boolean,
  ): AsyncIterableIterator<T> => {
    let unregister = () => {};
    const rows = latestStream<T>(endsWith, () => unregister());
    const watcher: Watcher<T> = { systemId, seen: new Set(), deliver: rows.deliver };
    listen();
    // Registered before the first read: a change between the two is not missed.
    unregister = register(watcher);
    first(watcher).catch(() => rows.end());
    return rows;
  };

  const current = async (w: Watcher<T>, runId: string) => {
    const row = await load(runId);
    if (row && !w.seen.has(row.id)) w.deliver(row);
    return row;
  };

  return {
    run(runId) {
      return stream(
        (w) => {
          let set = ofRun.get(runId);
          if (!set) ofRun.set(runId, (set = new Set()));
          set.add(w);
          return () => {
            set.delete(w);
            if (set.size === 0) ofRun.delete(runId);
          };
        },
        null,
        async (w) => {
          if (!(await current(w, runId))) throw new Error(`run ${runId} not found`);
        },
        (row) => isFinalStatus(row.status),
      );
    },
    runs(active, connectedSystemId) {
      return stream(
        (w) => {
          ofAll.add(w);
          return () => ofAll.delete(w);
        },
        connectedSystemId,
        async (w) => {
          for (const id of await active()) await current(w, id);
        },
        () => false,
      );
    },
    async close() {
      closed = true;
      for (const t of timing.values()) if (t.timer) clearTimeout(t.timer);
      await events?.return?.();
      await pump;
    },
  };
}
