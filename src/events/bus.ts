import { Repeater } from "@repeaterjs/repeater";
import type pg from "pg";

const CHANNEL = "metasync_events";

/**
 * A message as pg_notify arguments, for a statement that notifies as part of its own work (one
 * round trip instead of two): what publish() sends.
 */
export const busNotification = (topic: string, payload: Record<string, unknown> = {}) => ({
  channel: CHANNEL,
  message: JSON.stringify({ topic, payload } satisfies BusMessage),
});

/**
 * busNotification's pg_notify arguments as SQL, for a statement whose own result decides the
 * message (e.g. a row's new status): the channel, and the expression of the message from SQL
 * expressions of its topic (text) and payload (json).
 */
export const busNotificationSql = (topic: string, payload: string) => ({
  channel: `'${CHANNEL}'`,
  message: `json_build_object('topic', ${topic}, 'payload', ${payload})::text`,
});

export interface BusMessage {
  topic: string;
  payload: Record<string, unknown>;
}

/**
 * Cross-process events over PostgreSQL LISTEN/NOTIFY: a worker in another process
 * publishes (inside its batch transaction, so subscribers only hear committed state)
 * and every API process pushes to its subscribers. Payloads carry ids, not documents.
 */
export interface EventBus {
  /** Publish now, or as part of `client`'s transaction (delivered on commit). */
  publish(topic: string, payload?: Record<string, unknown>, client?: Pick<pg.PoolClient, "query">): Promise<void>;
  subscribe(topic: string): AsyncIterableIterator<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function createEventBus(pool: pg.Pool): Promise<EventBus> {
  const listeners = new Map<string, Set<(payload: Record<string, unknown>) => void>>();
  let listener: pg.PoolClient | null = null;
  let closed = false;

  const onNotification = (msg: pg.Notification) => {
    if (msg.channel !== CHANNEL || !msg.payload) return;
    let parsed: BusMessage;
    try {
      parsed = JSON.parse(msg.payload) as BusMessage;
    } catch {
      return;
    }
    for (const fn of listeners.get(parsed.topic) ?? []) fn(parsed.payload);
  };

  // A dedicated connection holds the LISTEN; it reconnects if the server drops it.
  const connect = async () => {
    const client = await pool.connect();
    client.on("notification", onNotification);
    client.on("error", () => {
      // After close() the client is back in the pool: the server stopping then is expected, and
      // releasing twice would throw out of an event handler (crashing a clean shutdown).
      if (closed || listener !== client) return;
      client.release(true);
      listener = null;
      if (!closed) setTimeout(() => void connect().catch(() => {}), 500);
    });
    await client.query(`LISTEN ${CHANNEL}`);
    listener = client;
  };
  await connect();

  return {
    async publish(topic, payload = {}, client) {
      const { channel, message } = busNotification(topic, payload);
      await (client ?? pool).query("SELECT pg_notify($1, $2)", [channel, message]);
    },
    subscribe(topic) {
      return new Repeater<Record<string, unknown>>(async (push, stop) => {
        const fn = (payload: Record<string, unknown>) => void push(payload);
        let set = listeners.get(topic);
        if (!set) listeners.set(topic, (set = new Set()));
        set.add(fn);
        await stop;
        set.delete(fn);
        if (set.size === 0) listeners.delete(topic);
      });
    },
    async close() {
      closed = true;
      if (listener) {
        await listener.query(`UNLISTEN ${CHANNEL}`).catch(() => {});
        listener.release();
        listener = null;
      }
    },
  };
}
