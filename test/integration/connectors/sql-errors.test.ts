import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../../src/db/embedded-postgres.ts";
import { expectError } from "../../helpers/connector-errors.ts";
import { collect } from "../../helpers/import-context.ts";
import { SqlHarness } from "../../helpers/sql-harness.ts";

const target = new SqlHarness();
beforeAll(async () => {
  await target.start();
  await target.peopleTable("people_full", 5);
});
afterAll(() => target.stop());

describe("SQL connector: errors", () => {
  const withUrl = (change: (u: URL) => void) => {
    const u = new URL(target.url);
    change(u);
    return u.toString();
  };

  it("wrong credentials are AUTH_FAILED and not transient", async () => {
    const c = await target.sql({ table: "people_full", connectionString: withUrl((u) => (u.password = "wrong")) });
    await expectError(c.testConnection(), "AUTH_FAILED", false);
    await expectError(collect(c.importFull(null, target.noContext)), "AUTH_FAILED", false);
    const [result] = await c.export([{ id: "x", changeType: "DELETE", objectType: "person", anchor: "001", attributes: [] }]);
    expect(result).toMatchObject({ id: "x", status: "PERMANENT_FAILURE", code: "AUTH_FAILED" });
  });

  it("a server that is down is a transient CONNECTION_FAILED, for imports and for every change of an export", async () => {
    const port = await freePort();
    const c = await target.sql({ table: "people_full", connectionString: withUrl((u) => (u.port = String(port))) });
    await expectError(c.testConnection(), "CONNECTION_FAILED", true);
    await expectError(collect(c.importFull(null, target.noContext)), "CONNECTION_FAILED", true);
    const results = await c.export([
      { id: "1", changeType: "DELETE", objectType: "person", anchor: "001", attributes: [] },
      { id: "2", changeType: "DELETE", objectType: "person", anchor: "002", attributes: [] },
    ]);
    expect(results.map((r) => [r.id, r.status, r.status !== "APPLIED" && r.code])).toEqual([
      ["1", "TRANSIENT_FAILURE", "CONNECTION_FAILED"],
      ["2", "TRANSIENT_FAILURE", "CONNECTION_FAILED"],
    ]);
  });

  it("a server that accepts the connection but never answers is a transient TIMEOUT within the timeout", async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const c = await target.sql({
        table: "people_full",
        timeoutMs: 300,
        connectionString: withUrl((u) => (u.port = String(port))),
      });
      const started = Date.now();
      await expectError(c.testConnection(400), "TIMEOUT", true);
      await expectError(collect(c.importFull(null, target.noContext)), "TIMEOUT", true);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it("a query over the statement timeout is a transient TIMEOUT", async () => {
    await target.admin.query("CREATE VIEW slow_people AS SELECT id, pg_sleep(0.3)::text AS nap FROM people_full");
    const c = await target.sql({ table: "slow_people", timeoutMs: 200 });
    await expectError(collect(c.importFull(null, target.noContext)), "TIMEOUT", true);
  });

  it("a missing table, database or column is a permanent NOT_FOUND / SCHEMA_VIOLATION", async () => {
    await expectError((await target.sql({ table: "nope" })).testConnection(), "NOT_FOUND", false);
    await expectError(collect((await target.sql({ table: "nope" })).importFull(null, target.noContext)), "NOT_FOUND", false);
    const noDb = await target.sql({ table: "people_full", connectionString: withUrl((u) => (u.pathname = "/no_such_db")) });
    await expectError(noDb.testConnection(), "NOT_FOUND", false);
    await expectError((await target.sql({ table: "people_full", anchor: "uid" })).discoverSchema(), "SCHEMA_VIOLATION", false);
    await expectError(
      collect((await target.sql({ table: "people_full" })).importDelta(null, null, target.noContext)),
      "UNSUPPORTED",
      false,
    );
    await expectError(target.sql({ table: "people_full", connectionString: "mysql://x" }), "INVALID_INPUT", false);
  });
});
