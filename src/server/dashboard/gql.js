// The dashboard's only way to the server: the public GraphQL API.
// Queries and mutations: POST /graphql. Subscriptions: one WebSocket speaking graphql-transport-ws
// (the graphql-ws protocol: connection_init -> connection_ack, subscribe / next / error / complete,
// ping / pong), shared by every subscription of the page and reopened with backoff when it drops.

const KEY_STORAGE = "metasync.apiKey";

export function getApiKey() {
  return sessionStorage.getItem(KEY_STORAGE) ?? "";
}

const keyListeners = new Set();
export function onApiKeyChange(listener) {
  keyListeners.add(listener);
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
  socket.restart();
  for (const listener of keyListeners) listener();
}

const authorization = () => (getApiKey() ? `Bearer ${getApiKey()}` : undefined);

export class GraphQLRequestError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.errors = errors;
    this.code = errors[0]?.extensions?.code;
  }
}

/** Runs a query or mutation; resolves with `data`, rejects with a GraphQLRequestError. */
export async function gql(query, variables = {}) {
  const headers = { "content-type": "application/json", accept: "application/json" };
  const auth = authorization();
  if (auth) headers.authorization = auth;
  let res;
  try {
    res = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  } catch {
    throw new GraphQLRequestError([{ message: "the server cannot be reached", extensions: { code: "NETWORK" } }]);
  }
  let body;
  try {
    body = await res.json();
  } catch {
    throw new GraphQLRequestError([{ message: `unexpected answer (HTTP ${res.status})`, extensions: { code: "HTTP" } }]);
  }
  if (body.errors?.length) throw new GraphQLRequestError(body.errors);
  return body.data;
}

/** Connection state for the header: "connecting" | "live" | "idle" | "offline" | "unauthenticated". */
const stateListeners = new Set();
export function onSocketState(listener) {
  stateListeners.add(listener);
  listener(socket.state, socket.detail);
}

const socket = {
  ws: null,
  state: "idle",
  detail: "",
  acked: false,
  nextId: 1,
  retries: 0,
  retryTimer: null,
  idleTimer: null,
  /** id -> { payload, sink } of every subscription that has not completed. */
  active: new Map(),

  setState(state, detail = "") {
    this.state = state;
    this.detail = detail;
    for (const listener of stateListeners) listener(state, detail);
  },

  send(message) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  },

  open() {
    if (this.ws || this.active.size === 0) return;
    clearTimeout(this.retryTimer);
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
    const ws = new WebSocket(url, "graphql-transport-ws");
    this.ws = ws;
    this.acked = false;
    this.setState("connecting");
    ws.onopen = () => {
      const auth = authorization();
      ws.send(JSON.stringify({ type: "connection_init", payload: auth ? { authorization: auth } : {} }));
    };
    ws.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.receive(message);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.acked = false;
      if (event.code === 4401 || event.code === 4403) {
        // Refused: retrying with the same key cannot help; a new key restarts the socket.
        this.setState("unauthenticated", event.reason || "the API key was refused");
        for (const { sink } of this.active.values()) sink.error?.(new Error(event.reason || "unauthenticated"));
        return;
      }
      this.setState("offline", event.reason || "connection lost");
      if (this.active.size === 0) return;
      const delay = Math.min(10_000, 500 * 2 ** this.retries++) * (0.75 + Math.random() / 2);
      this.retryTimer = setTimeout(() => this.open(), delay);
    };
  },

  receive(message) {
    switch (message.type) {
      case "connection_ack":
        this.acked = true;
        this.retries = 0;
        this.setState("live");
        // Every subscription (re)starts here: after a reconnect each one gets its current state again.
        for (const [id, { payload }] of this.active) this.send({ id, type: "subscribe", payload });
        return;
      case "ping":
        this.send({ type: "pong" });
        return;
      case "next":
        this.active.get(message.id)?.sink.next?.(message.payload);
        return;
      case "error": {
        const entry = this.active.get(message.id);
        this.active.delete(message.id);
        entry?.sink.error?.(new GraphQLRequestError(message.payload ?? [{ message: "subscription failed" }]));
        this.closeIfIdle();
        return;
      }
      case "complete": {
        const entry = this.active.get(message.id);
        this.active.delete(message.id);
        entry?.sink.complete?.();
        this.closeIfIdle();
        return;
      }
    }
  },

  /** Closes the socket a little after the last subscription ends (a view switch resubscribes at once). */
  closeIfIdle() {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.active.size > 0 || !this.ws) return;
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, "no subscriptions");
      this.setState("idle", "no live view open");
    }, 3000);
  },

  restart() {
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, "new API key");
    this.retries = 0;
    this.open();
  },
};

/**
 * Subscribes; `sink` gets next(result) with { data, errors }, error(err), complete().
 * Returns a function that ends the subscription.
 */
export function subscribe(query, variables, sink) {
  const id = String(socket.nextId++);
  const payload = { query, variables };
  socket.active.set(id, { payload, sink });
  if (socket.acked) socket.send({ id, type: "subscribe", payload });
  else socket.open();
  return () => {
    if (!socket.active.delete(id)) return;
    if (socket.acked) socket.send({ id, type: "complete" });
    socket.closeIfIdle();
  };
}
