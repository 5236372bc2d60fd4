import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { createTestServices } from "../../helpers/services.ts";

const HEALTH = "query Health { health { status } }";
const hash = createHash("sha256").update(HEALTH).digest("hex");

let app: TestApp;
beforeAll(async () => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "metasync-po-")), "operations.json");
  writeFileSync(file, JSON.stringify({ [hash]: HEALTH }));
  app = await startTestApp(await createTestServices({ production: true, persistedOperationsFile: file }));
});
afterAll(async () => {
  await app?.stop();
  await app?.services.bus.close();
  await app?.services.db.close();
});

async function post(body: Record<string, unknown>) {
  const res = await fetch(`${app.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] } };
}

describe("persisted operations (opt-in)", () => {
  it("runs a listed operation by documentId, by APQ hash, or by its exact text", async () => {
    const byId = await post({ documentId: hash });
    expect(byId.body.data).toEqual({ health: { status: "ok" } });
    const apq = await post({ extensions: { persistedQuery: { version: 1, sha256Hash: hash } } });
    expect(apq.body.data).toEqual({ health: { status: "ok" } });
    expect((await post({ query: HEALTH })).body.data).toEqual({ health: { status: "ok" } });
  });

  it("refuses any other document and unknown ids with a code", async () => {
    const free = await post({ query: "{ connectedSystems { id } }" });
    expect(free.status).toBe(400);
    expect(free.body.errors?.[0]?.extensions?.code).toBe("PERSISTED_OPERATION_REQUIRED");
    const unknown = await post({ documentId: "0".repeat(64) });
    expect(unknown.body.errors?.[0]?.extensions?.code).toBe("PERSISTED_OPERATION_NOT_FOUND");
  });
});
