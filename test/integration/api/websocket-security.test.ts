import { createClient } from "graphql-ws";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createEventBus } from "../../../src/events/bus.ts";
import { ApiKeys } from "../../../src/systems/api-keys.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { createTestServices } from "../../helpers/services.ts";

let app: TestApp;
const keys: Record<string, { key: string; id: string }> = {};

beforeAll(async () => {
  app = await startTestApp(
    await createTestServices({
      limits: { subscriptionsPerConnection: 3, subscriptionsPerKey: 5, wsMaxBufferedBytes: 64 * 1024 },
    }),
  );
  for (const name of ["admin", "reader", "doomed", "doomed2"])
    keys[name] = await app.services.apiKeys
      .create({ role: name === "admin" ? "ADMIN" : "READER", name })
      .then((c) => ({ key: c.key, id: c.apiKey.id }));
});
afterAll(() => app?.stop());

/** A raw graphql-transport-ws socket: every message it receives, and how it closed. */
async function rawSocket(init: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const socket = new WebSocket(app.wsUrl, "graphql-transport-ws", { headers });
  const messages: { type: string; id?: string; payload?: any }[] = [];
  let closed: { code: number; reason: string } | null = null;
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of waiters) w();
  };
  socket.on("message", (data) => {
    messages.push(JSON.parse(String(data)));
    notify();
  });
  socket.on("close", (code, reason) => {
    closed = { code, reason: String(reason) };
    notify();
  });
  await new Promise((resolve) => socket.once("open", resolve));
  socket.send(JSON.stringify({ type: "connection_init", payload: init }));
  const until = (predicate: () => boolean) =>
    new Promise<void>((resolve) => {
      if (predicate()) return resolve();
      const w = () => {
        if (!predicate()) return;
        waiters.delete(w);
        resolve();
      };
      waiters.add(w);
    });
  await until(() => messages.some((m) => m.type === "connection_ack") || closed !== null);
  return {
    socket,
    messages,
    closed: () => closed as { code: number; reason: string } | null,
    until,
    subscribe: (id: string, query = "subscription { runsChanged { id } }") =>
      socket.send(JSON.stringify({ id, type: "subscribe", payload: { query } })),
  };
}

describe("subscription caps", () => {
  it("refuses subscriptions over the per-connection cap on their own id, and the socket stays open", async () => {
    const s = await rawSocket({ authorization: `Bearer ${keys.reader!.key}` });
    for (let i = 1; i <= 6; i++) s.subscribe(String(i));
    await s.until(() => s.messages.filter((m) => m.type === "error").length === 3);
    const errors = s.messages.filter((m) => m.type === "error");
    expect(errors.map((m) => m.id).sort()).toEqual(["4", "5", "6"]);
    expect(errors[0]!.payload[0].extensions.code).toBe("TOO_MANY_SUBSCRIPTIONS");
    expect(errors[0]!.payload[0].message).toContain("at most 3");
    // Still open: completing one makes room for another, which runs.
    s.socket.send(JSON.stringify({ id: "1", type: "complete" }));
    s.subscribe("7", "{ health { status } }");
    await s.until(() => s.messages.some((m) => m.id === "7" && m.type === "next"));
    expect(s.messages.find((m) => m.id === "7" && m.type === "next")!.payload.data.health.status).toBe("ok");
    expect(s.closed()).toBeNull();
    s.socket.close();
    await s.until(() => s.closed() !== null);
  });

  it("caps one key's subscriptions across its connections", async () => {
    const a = await rawSocket({ authorization: `Bearer ${keys.reader!.key}` });
    const b = await rawSocket({ authorization: `Bearer ${keys.reader!.key}` });
    for (const id of ["1", "2", "3"]) a.subscribe(id);
    for (const id of ["1", "2", "3"]) b.subscribe(id);
    await b.until(() => b.messages.some((m) => m.type === "error"));
    const refused = [...a.messages, ...b.messages].filter((m) => m.type === "error");
    expect(refused).toHaveLength(1);
    expect(refused[0]!.payload[0].message).toContain("at most 5");
    // Another key is not affected.
    const c = await rawSocket({ authorization: `Bearer ${keys.admin!.key}` });
    c.subscribe("1", "{ health { status } }");
    await c.until(() => c.messages.some((m) => m.id === "1" && m.type === "next"));
    for (const s of [a, b, c]) s.socket.close();
  });
});

describe("a client that does not read", () => {
  it("is closed with 1008 SLOW_CONSUMER once its unsent output passes the bound, not buffered without end", async () => {
    await app.services.db.pool.query(
      `INSERT INTO metaverse_object (type, attributes) VALUES ('blob', jsonb_build_object('blob', repeat('x', 500000)))`,
    );
    const page = await app.gql('{ metaverseObjects(type: "blob") { edges { node { id } } } }', undefined, {
      authorization: `Bearer ${keys.admin!.key}`,
    });
    const id = page.data.metaverseObjects.edges[0].node.id;
    // Each answer is ~5 MB; 3 at a time on this connection, 9 in all: far more than loopback buffers hold.
    const query = `{ ${Array.from({ length: 10 }, (_, i) => `a${i}: metaverseObject(id: "${id}") { attributes }`).join(" ")} }`;
    const s = await rawSocket({ authorization: `Bearer ${keys.admin!.key}` });
    s.socket.pause(); // stops reading: the server's writes back up
    const done = async () => {
      const text = await (await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${keys.admin!.key}` } })).text();
      return Number(
        text.match(/metasync_graphql_operation_duration_seconds_count\{operation="query",outcome="ok"\} (\d+)/)?.[1] ?? 0,
      );
    };
    const before = await done();
    for (let i = 0; i < 3; i++) s.subscribe(`q${i}`, query);
    while ((await done()) < before + 3) await new Promise((r) => setTimeout(r, 100));
    s.socket.resume();
    await s.until(() => s.closed() !== null || s.messages.filter((m) => m.type === "complete").length === 3);
    expect(s.closed()).toMatchObject({ code: 1008, reason: expect.stringMatching(/^SLOW_CONSUMER/) });
    expect(s.messages.filter((m) => m.type === "next").length).toBeLessThan(3);
  });
});

describe("the upgrade request's Authorization header", () => {
  it("authenticates the socket when connection_init carries no key", async () => {
    const ok = await rawSocket({}, { authorization: `Bearer ${keys.reader!.key}` });
    expect(ok.messages[0]?.type).toBe("connection_ack");
    ok.socket.close();
    const bad = await rawSocket({}, { authorization: "Bearer msk_wrong" });
    await bad.until(() => bad.closed() !== null);
    expect(bad.closed()!.code).toBe(4401);
  });

  it("works with graphql-ws's client", async () => {
    class WithHeader extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { headers: { authorization: `Bearer ${keys.reader!.key}` } });
      }
    }
    const client = createClient({ url: app.wsUrl, webSocketImpl: WithHeader, lazy: true, retryAttempts: 0 });
    const first = await client.iterate({ query: "{ health { status } }" }).next();
    expect(first.value?.data).toEqual({ health: { status: "ok" } });
    await client.dispose();
  });
});

describe("revoking a key", () => {
  it("closes its open sockets (revoked through the API) and refuses it afterwards", async () => {
    const s = await rawSocket({ authorization: `Bearer ${keys.doomed!.key}` });
    s.subscribe("1");
    const revoked = await app.gql(
      "mutation ($id: ID!) { revokeApiKey(id: $id) { revokedAt } }",
      { id: await globalId(keys.doomed!.id) },
      { authorization: `Bearer ${keys.admin!.key}` },
    );
    expect(revoked.errors).toBeUndefined();
    await s.until(() => s.closed() !== null);
    expect(s.closed()).toMatchObject({ code: 4401, reason: expect.stringMatching(/^UNAUTHENTICATED/) });
    const again = await rawSocket({ authorization: `Bearer ${keys.doomed!.key}` });
    await again.until(() => again.closed() !== null);
    expect(again.closed()!.code).toBe(4401);
  });

  it("closes them when another process revokes it (over PostgreSQL NOTIFY)", async () => {
    const s = await rawSocket({ authorization: `Bearer ${keys.doomed2!.key}` });
    s.subscribe("1");
    // Another process: its own pool, its own bus connection, the same database.
    const pool = new pg.Pool({ connectionString: app.services.db.url, max: 2 });
    const bus = await createEventBus(pool);
    try {
      await new ApiKeys({ prisma: app.services.db.prisma, bus }).revoke(keys.doomed2!.id);
      await s.until(() => s.closed() !== null);
      expect(s.closed()!.code).toBe(4401);
    } finally {
      await bus.close();
      await pool.end();
    }
  });
});

/** The ApiKey's GraphQL id, as revokeApiKey takes it. */
async function globalId(id: string): Promise<string> {
  const r = await app.gql("{ apiKeys { id name } }", undefined, { authorization: `Bearer ${keys.admin!.key}` });
  const all = r.data.apiKeys as { id: string; name: string }[];
  const name = Object.entries(keys).find(([, k]) => k.id === id)![0];
  return all.find((k) => k.name === name)!.id;
}
