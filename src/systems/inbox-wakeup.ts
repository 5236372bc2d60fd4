import { INBOX_TOPIC } from "../engine/realtime/inbox-store.ts";
import type { EventBus } from "../events/bus.ts";

/**
 * Wakes the workers (and inboxChanged subscribers) once pushes to a system have committed: at most
 * one notification in flight per system, and one more after it when pushes committed meanwhile, so
 * the last push of a burst is always followed by a wake-up but a burst costs a handful of them, not
 * one each. A NOTIFY serialises its transaction's commit on a database-wide lock: 32 connections
 * storing single-record pushes made 918-1,215 commits/s with a notification in each statement and
 * 1,923-1,953/s without. A wake-up lost to a crash between commit and notification is made up by
 * the drainer's periodic sweep of the inbox. After a notification the next waits `gapMs`: with
 * one in flight only, a burst of 1,000 pushes a second still made 1,600 of them for 4,000 pushes
 * (each a statement here and a message to every listening process), where the drainer's window
 * (10-25 ms) and a run in progress take them together anyway. The first push after a quiet spell
 * wakes at once.
 */
export function inboxWakeup(bus: Pick<EventBus, "publish">, onError: (e: unknown) => void = () => {}, gapMs = 50) {
  const pending = new Map<string, { again: boolean }>();
  return function wake(systemId: string): Promise<void> | undefined {
    const inFlight = pending.get(systemId);
    if (inFlight) {
      inFlight.again = true;
      return undefined;
    }
    const state = { again: false };
    pending.set(systemId, state);
    return (async () => {
      try {
        do {
          state.again = false;
          await bus.publish(INBOX_TOPIC, { connectedSystemId: systemId }).catch(onError);
          await new Promise((resolve) => setTimeout(resolve, gapMs));
        } while (state.again);
      } finally {
        pending.delete(systemId);
      }
    })();
  };
}

export type InboxWakeup = ReturnType<typeof inboxWakeup>;
