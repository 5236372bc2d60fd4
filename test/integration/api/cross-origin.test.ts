import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { createTestServices } from "../../helpers/services.ts";

// A fresh install: no API key, so every loopback caller is an admin. The attacks below are what
// any web page open in a browser on the same machine can send.
let app: TestApp;
const ALLOWED = "https://console.example.test";
const EVIL = "https://evil.example.test";
const CREATE_KEY = 'mutation { createApiKey(input: { role: ADMIN, name: "stolen" }) { key } }';

beforeAll(async () => {
  app = await startTestApp(await createTestServices({ allowedOrigins: [ALLOWED] }));
});
afterAll(() => app?.stop());

const keyCount = async () => (await app.services.db.pool.query("SELECT count(*)::int AS n FROM api_key")).rows[0].n as number;

/** Outcome of a WebSocket upgrade with these headers: "open" or the HTTP status refusing it. */
function upgrade(headers: Record<string, string>): Promise<"open" | number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(app.wsUrl, "graphql-transport-ws", { headers });
    socket.once("open", () => {
      socket.close();
      resolve("open");
    });
    socket.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
    socket.once("error", () => {});
  });
}

/** A raw GET (fetch may not set Host): the status and parsed body. */
function rawGet(path: string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(`${app.url}${path}`, { headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("a fresh install against pages of other origins", () => {
  it("refuses a JSON POST from a foreign origin with 403 and no CORS grant, and runs nothing", async () => {
    const res = await fetch(`${app.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: EVIL },
      body: JSON.stringify({ query: CREATE_KEY }),
    });
    expect(res.status).toBe(403);
    expect((await res.json()).errors[0]).toMatchObject({
      extensions: { code: "FORBIDDEN" },
      message: expect.stringContaining("METASYNC_ALLOWED_ORIGINS"),
    });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    const preflight = await fetch(`${app.url}/graphql`, {
      method: "OPTIONS",
      headers: { origin: EVIL, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
    expect(preflight.status).toBe(403);
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
    expect(await keyCount()).toBe(0);
  });

  it.each([
    ["a urlencoded form", "application/x-www-form-urlencoded", `query=${encodeURIComponent(CREATE_KEY)}`],
    ["a text/plain body", "text/plain", JSON.stringify({ query: CREATE_KEY })],
  ])("refuses %s (what a page may send without a preflight) with 415, even without Origin", async (_l, type, body) => {
    const res = await fetch(`${app.url}/graphql`, { method: "POST", headers: { "content-type": type }, body });
    expect(res.status).toBe(415);
    expect((await res.json()).errors[0].extensions.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    expect(await keyCount()).toBe(0);
  });

  it("refuses a multipart form with 415", async () => {
    const form = new FormData();
    form.set("operations", JSON.stringify({ query: CREATE_KEY }));
    form.set("map", "{}");
    const res = await fetch(`${app.url}/graphql`, { method: "POST", body: form });
    expect(res.status).toBe(415);
    expect(await keyCount()).toBe(0);
  });

  it("refuses pushes to POST /hooks from a foreign origin, as a form or text body, or under a rebound DNS name, and stores nothing", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "metasync-hooks-origin-"));
    const hrFile = path.join(dir, "hr.csv");
    writeFileSync(hrFile, "employeeId\n");
    const hr = await app.services.systems.create({
      name: "hr-origin",
      kind: "CSV",
      config: { path: hrFile, anchor: "employeeId", objectType: "person" },
      realtime: { enabled: true },
    });
    await app.services.connectionActions.refreshSchema(hr.id);
    const body = JSON.stringify({
      records: [{ op: "upsert", objectType: "person", anchor: "E1", attributes: { employeeId: "E1" } }],
    });
    const hook = `${app.url}/hooks/hr-origin`;
    const stored = async () =>
      (await app.services.db.pool.query("SELECT count(*)::int AS n FROM inbox_entry WHERE connected_system_id = $1", [hr.id]))
        .rows[0].n as number;

    const foreign = await fetch(hook, { method: "POST", headers: { "content-type": "application/json", origin: EVIL }, body });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();
    // What a page can send without a CORS preflight: text/plain and form bodies.
    for (const type of ["text/plain", "application/x-www-form-urlencoded"]) {
      const res = await fetch(hook, { method: "POST", headers: { "content-type": type }, body });
      expect(res.status).toBe(415);
    }
    const { port } = new URL(app.url);
    const rebound = await new Promise<number>((resolve, reject) => {
      const req = request(
        hook,
        { method: "POST", headers: { host: `evil.example.test:${port}`, "content-type": "application/json" } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
    expect([401, 403]).toContain(rebound);
    expect(await stored()).toBe(0);

    // The same push from a script (no Origin, loopback, own Host) is taken: the refusals above were the origin's.
    const own = await fetch(hook, { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(own.status).toBe(202);
    expect(await stored()).toBe(1);
    rmSync(dir, { recursive: true, force: true });
  });

  it("never runs a mutation sent with GET", async () => {
    const res = await fetch(`${app.url}/graphql?query=${encodeURIComponent(CREATE_KEY)}`, {
      headers: { accept: "application/json" },
    });
    expect(res.status).toBe(405);
    expect(await keyCount()).toBe(0);
  });

  it("refuses a rebound DNS name's same-origin GET (no Origin header) and its metrics, serves localhost, IPs and listed hosts", async () => {
    const { port } = new URL(app.url);
    const query = `/graphql?query=${encodeURIComponent("{ apiKeys { id } }")}`;
    const json = { accept: "application/json" };
    // The page at http://rebind.evil.example.test:<port>/ reads its own origin: the browser sends
    // Host: rebind... and no Origin. Keyless loopback admin must not apply.
    const rebound = await rawGet(query, { ...json, host: `rebind.evil.example.test:${port}` });
    expect(rebound.status).toBe(401);
    expect(rebound.body.errors[0]).toMatchObject({
      extensions: { code: "UNAUTHENTICATED" },
      message: expect.stringContaining("localhost"),
    });
    expect((await rawGet("/metrics", { host: `rebind.evil.example.test:${port}` })).status).toBe(401);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, "console.example.test"]) {
      const served = await rawGet(query, { ...json, host });
      expect(served.status, host).toBe(200);
      expect(served.body.data.apiKeys).toEqual([]);
    }
  });

  it("refuses a WebSocket upgrade from a foreign origin or a rebound DNS name, accepts its own and listed ones", async () => {
    const { port } = new URL(app.url);
    expect(await upgrade({ origin: EVIL })).toBe(403);
    // DNS rebinding: evil's name re-pointed at 127.0.0.1 makes Origin and Host agree.
    expect(await upgrade({ origin: `http://rebind.evil.example.test:${port}`, host: `rebind.evil.example.test:${port}` })).toBe(
      403,
    );
    expect(await upgrade({ origin: app.url })).toBe("open");
    expect(await upgrade({ origin: `http://localhost:${port}`, host: `localhost:${port}` })).toBe("open");
    expect(await upgrade({ origin: ALLOWED })).toBe("open");
    expect(await upgrade({})).toBe("open"); // no Origin: a script, not a page
  });

  it("serves its own origin (the dashboard) and a listed origin, with CORS only for the listed one", async () => {
    const own = await app.gql("{ health { status } }", undefined, { origin: app.url });
    expect(own.data.health.status).toBe("ok");
    expect(own.headers.get("access-control-allow-origin")).toBeNull();
    const listed = await app.gql("{ health { status } }", undefined, { origin: ALLOWED });
    expect(listed.data.health.status).toBe("ok");
    expect(listed.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    expect(listed.headers.get("access-control-allow-credentials")).toBeNull();
    const preflight = await fetch(`${app.url}/graphql`, {
      method: "OPTIONS",
      headers: { origin: ALLOWED, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    // GraphiQL's page still opens in a browser.
    const page = await fetch(`${app.url}/graphql`, { headers: { accept: "text/html" } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Metasync");
  });
});
