import type { WebSocket } from "ws";

/** The part of a graphql-ws connection context this module reads. */
export interface Session {
  /** graphql-ws's own record of the connection's operations in flight (replaced on close). */
  subscriptions: Record<string, unknown>;
  extra: { socket: WebSocket; caller?: { keyId: string | null }; request: { socket: { remoteAddress?: string } } };
}

export interface SessionLimits {
  subscriptionsPerConnection: number;
  subscriptionsPerKey: number;
  wsMaxBufferedBytes: number;
}

/** Close codes beside graphql-ws's own 44xx: 4401 refused key, 1008 a policy the client broke. */
export const CLOSE_UNAUTHENTICATED = 4401;
export const CLOSE_SLOW_CONSUMER = 1008;

/**
 * The open graphql-ws connections, grouped by API key (or client address while no key exists),
 * so that one caller's subscriptions can be capped across its connections and a revoked key's
 * sockets closed. Counts are read from graphql-ws's own `subscriptions` record, so nothing here
 * has to be kept in step with every way an operation ends.
 */
export function createSessions(limits: SessionLimits) {
  const byGroup = new Map<string, Set<Session>>();
  const groupOf = (s: Session) =>
    s.extra.caller?.keyId ? `key:${s.extra.caller.keyId}` : `addr:${s.extra.request.socket.remoteAddress}`;
  const open = (s: Session) => Object.keys(s.subscriptions).length;

  return {
    add(session: Session) {
      const group = groupOf(session);
      let set = byGroup.get(group);
      if (!set) byGroup.set(group, (set = new Set()));
      set.add(session);
    },
    remove(session: Session) {
      const group = groupOf(session);
      const set = byGroup.get(group);
      set?.delete(session);
      if (set?.size === 0) byGroup.delete(group);
    },
    /**
     * Why a new operation (already entered in session.subscriptions by graphql-ws) must be
     * refused, or null. Synchronous: a burst of subscribe messages is counted as it arrives.
     */
    refuseSubscribe(session: Session): string | null {
      if (open(session) > limits.subscriptionsPerConnection)
        return `too many operations on this connection: at most ${limits.subscriptionsPerConnection} at once; complete some first`;
      let total = 0;
      for (const s of byGroup.get(groupOf(session)) ?? []) total += open(s);
      if (total > limits.subscriptionsPerKey)
        return `too many operations for this API key: at most ${limits.subscriptionsPerKey} at once across its connections`;
      return null;
    },
    /**
     * Every message out first checks the socket's unsent bytes: a client that does not read
     * would otherwise make the server buffer without bound; past the limit the socket is closed
     * (1008 SLOW_CONSUMER) and the message dropped. Wraps send itself because several operations
     * may each pass a check before any of them has written.
     */
    guardBackpressure(socket: WebSocket) {
      const send = socket.send.bind(socket) as (data: unknown, cb?: (err?: Error) => void) => void;
      (socket as { send: unknown }).send = (data: unknown, cb?: (err?: Error) => void) => {
        if (socket.bufferedAmount <= limits.wsMaxBufferedBytes) return send(data, cb);
        if (socket.readyState === socket.OPEN)
          socket.close(CLOSE_SLOW_CONSUMER, `SLOW_CONSUMER: over ${limits.wsMaxBufferedBytes} bytes unread`);
        cb?.(); // graphql-ws awaits the callback: dropping must still answer it
      };
    },
    /** A revoked key: its sockets close with 4401, as a refused key at connect would. */
    closeKey(apiKeyId: string): number {
      const set = byGroup.get(`key:${apiKeyId}`);
      for (const s of set ?? []) s.extra.socket.close(CLOSE_UNAUTHENTICATED, "UNAUTHENTICATED: the API key was revoked");
      return set?.size ?? 0;
    },
  };
}
