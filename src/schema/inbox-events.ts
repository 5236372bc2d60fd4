import { INBOX_APPLIED_TOPIC, INBOX_TOPIC, inboxStats } from "../engine/realtime/inbox-store.ts";
import type { EventBus } from "../events/bus.ts";
import { builder } from "./builder.ts";
import { ConnectedSystemRef } from "./connected-system.ts";
import { decodeId } from "./global-id.ts";

interface InboxState {
  connectedSystemId: string;
  depth: number;
  oldestAgeMs: number | null;
}

const InboxStateRef = builder.objectRef<InboxState>("InboxState").implement({
  description: "A system's real-time inbox after pushes arrived or were applied.",
  fields: (t) => ({
    connectedSystemId: t.exposeID("connectedSystemId"),
    depth: t.exposeInt("depth", { description: "Records waiting to be applied." }),
    oldestAgeMs: t.float({ nullable: true, resolve: (s) => s.oldestAgeMs }),
    connectedSystem: t.field({
      type: ConnectedSystemRef,
      nullable: true,
      resolve: (s, _args, ctx) => ctx.services.db.prisma.connectedSystem.findUnique({ where: { id: s.connectedSystemId } }),
    }),
  }),
});

/** At most one state per system per this many milliseconds: a burst of pushes is one update, not thousands. */
const THROTTLE_MS = 200;

/**
 * Pushes and applies of one system (or all), coalesced per system within THROTTLE_MS, each
 * answered with the inbox as it is then (one query per window, however many pushes). An
 * iterator rather than a generator: a client leaving while nothing happens ends it at once.
 */
function inboxStates(bus: EventBus, pool: Parameters<typeof inboxStats>[0], systemId: string | null) {
  const pushed = bus.subscribe(INBOX_TOPIC);
  const applied = bus.subscribe(INBOX_APPLIED_TOPIC);
  const dirty = new Set<string>();
  const ready: InboxState[] = [];
  let wake: (() => void) | null = null;
  let closed = false;
  const listen = async (source: AsyncIterableIterator<Record<string, unknown>>) => {
    for await (const message of source) {
      const id = String(message.connectedSystemId);
      if (systemId && id !== systemId) continue;
      dirty.add(id);
      wake?.();
    }
  };
  void listen(pushed);
  void listen(applied);
  const done = { value: undefined, done: true } as const;
  const iterator: AsyncIterableIterator<InboxState> = {
    [Symbol.asyncIterator]: () => iterator,
    async next() {
      while (!closed) {
        const next = ready.shift();
        if (next) return { value: next, done: false };
        if (!dirty.size) await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        if (closed) break;
        await new Promise((resolve) => setTimeout(resolve, THROTTLE_MS));
        const ids = [...dirty];
        dirty.clear();
        const stats = new Map((await inboxStats(pool)).map((s) => [s.systemId, s]));
        for (const id of ids)
          ready.push({
            connectedSystemId: id,
            depth: stats.get(id)?.depth ?? 0,
            oldestAgeMs: stats.get(id)?.oldestAgeMs ?? null,
          });
      }
      return done;
    },
    async return() {
      closed = true;
      wake?.();
      await pushed.return?.();
      await applied.return?.();
      return done;
    },
  };
  return iterator;
}

builder.subscriptionField("inboxChanged", (t) =>
  t.field({
    type: InboxStateRef,
    authScopes: { reader: true },
    description:
      "A system's real-time inbox (depth, oldest age) whenever records are pushed or applied, from any process; at most five times a second per system.",
    args: { connectedSystemId: t.arg.id({ description: "Only this system (global or raw id); all systems when left out." }) },
    subscribe: (_root, args, ctx) =>
      inboxStates(
        ctx.services.bus,
        ctx.services.db.pool,
        args.connectedSystemId ? decodeId("ConnectedSystem", String(args.connectedSystemId), "connectedSystemId") : null,
      ),
    resolve: (state) => state,
  }),
);
