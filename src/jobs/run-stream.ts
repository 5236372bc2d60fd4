import { Repeater } from "@repeaterjs/repeater";
import type { EventBus } from "../events/bus.ts";
import { isFinalStatus } from "./operations.ts";
import { RUNS_TOPIC, type RunChangedPayload, runTopic } from "./progress.ts";

/** At most one message per this many ms per run reaches a subscriber (~5/s). */
export const COALESCE_MS = 200;

type Loader<T> = (runId: string) => Promise<T | null>;

/**
 * Per-run coalescing: a change schedules one reload of the run row no earlier than `intervalMs`
 * after the previous push; changes arriving meanwhile fold into that reload. The reload always
 * runs after the last change it covers, so the final status is never dropped.
 */
function coalescer<T>(load: Loader<T>, push: (row: T) => Promise<unknown>, intervalMs: number) {
  const state = new Map<string, { last: number; timer: NodeJS.Timeout | null }>();
  let chain: Promise<unknown> = Promise.resolve();
  let closed = false;
  const emit = (runId: string) => {
    const next = chain.then(async () => {
      if (closed) return null;
      const s = state.get(runId) ?? { last: 0, timer: null };
      s.timer = null;
      s.last = Date.now();
      state.set(runId, s);
      const row = await load(runId);
      if (row && !closed) await push(row);
      return row;
    });
    chain = next.catch(() => null);
    return next;
  };
  return {
    emitNow: emit,
    changed(runId: string) {
      const s = state.get(runId) ?? { last: 0, timer: null };
      state.set(runId, s);
      if (s.timer || closed) return;
      s.timer = setTimeout(() => void emit(runId).catch(() => {}), Math.max(0, s.last + intervalMs - Date.now()));
    },
    close() {
      closed = true;
      for (const s of state.values()) if (s.timer) clearTimeout(s.timer);
    },
  };
}

/** One run: its current state at once, then its changes; ends after a final status. */
export function runProgressStream<T extends { status: string }>(
  bus: EventBus,
  load: Loader<T>,
  runId: string,
  intervalMs = COALESCE_MS,
) {
  return new Repeater<T>(async (push, stop) => {
    const c = coalescer(
      load,
      async (row: T) => {
        await push(row);
        if (isFinalStatus(row.status)) stop();
      },
      intervalMs,
    );
    // Listen first, then read: a change between the two is not missed.
    const events = bus.subscribe(runTopic(runId));
    const pump = (async () => {
      for await (const _ of events) c.changed(runId);
    })();
    const first = await c.emitNow(runId).catch(() => null);
    if (!first) stop();
    await stop;
    c.close();
    await events.return?.();
    await pump.catch(() => {});
  });
}

/**
 * Runs of one system (or all): the active ones at once, then every change, each run coalesced
 * on its own. Never ends by itself.
 */
export function runsChangedStream<T>(
  bus: EventBus,
  load: Loader<T>,
  active: () => Promise<string[]>,
  connectedSystemId: string | null,
  intervalMs = COALESCE_MS,
) {
  return new Repeater<T>(async (push, stop) => {
    const c = coalescer(load, push, intervalMs);
    const events = bus.subscribe(RUNS_TOPIC);
    const pump = (async () => {
      for await (const raw of events) {
        const payload = raw as RunChangedPayload;
        if (connectedSystemId && payload.connectedSystemId !== connectedSystemId) continue;
        c.changed(payload.runId);
      }
    })();
    for (const id of await active()) await c.emitNow(id).catch(() => null);
    await stop;
    c.close();
    await events.return?.();
    await pump.catch(() => {});
  });
}
