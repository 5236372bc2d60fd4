import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  changeLogInstalled,
  forgetChanges,
  installChangeLog,
  loadTable,
  readByAnchors,
  readChanges,
  removeChangeLog,
} from "../../../src/connectors/sql/change-log.ts";
import { SqlConfigSchema } from "../../../src/connectors/sql/config.ts";
import { createTestDatabaseUrl } from "../../helpers/database.ts";

// The change log installChangeNotifications puts into a source database, on a real PostgreSQL:
// names from the config are names (quoted, never spliced), and whoever writes the table needs
// no right on the log (the trigger function is SECURITY DEFINER).
let url: string;
let admin: pg.Client;
const TABLE = 'we"ird; DROP TABLE victim; --';
const ANCHOR = "emp'id";
const consumer = "6f1c1a52-8d7e-4c1e-9a53-0f0d6a4b2c11";

beforeAll(async () => {
  url = await createTestDatabaseUrl();
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query("CREATE TABLE victim (id int)");
  await admin.query(`CREATE TABLE "we""ird; DROP TABLE victim; --" ("emp'id" int PRIMARY KEY, name text)`);
});
afterAll(async () => {
  await admin?.end();
});

const sourceConfig = () => SqlConfigSchema.parse({ connectionString: url, table: TABLE, anchor: ANCHOR });
// Roles are the whole server's: a name of its own, so parallel files and reruns do not meet.
const writerRole = `writer_${randomBytes(4).toString("hex")}`;

describe("SQL change log", () => {
  it("logs inserts, updates (both anchors when the anchor changes) and deletes of a table with hostile names", async () => {
    const c = sourceConfig();
    await installChangeLog(admin, c, consumer);
    await installChangeLog(admin, c, consumer); // idempotent
    expect(await changeLogInstalled(admin, c, consumer)).toBe(true);

    // A writer with rights on the table only.
    await admin.query(`CREATE ROLE ${writerRole} LOGIN PASSWORD 'writer-password'`);
    await admin.query(`GRANT INSERT, UPDATE, DELETE, SELECT ON "we""ird; DROP TABLE victim; --" TO ${writerRole}`);
    const writer = new pg.Client({ connectionString: url.replace(/\/\/[^@]*@/, `//${writerRole}:writer-password@`) });
    await writer.connect();
    const notified: string[] = [];
    await admin.query("LISTEN metasync_change");
    admin.on("notification", (n) => notified.push(String(n.payload)));
    try {
      await writer.query(`INSERT INTO "we""ird; DROP TABLE victim; --" VALUES (1, 'Ada'), (2, 'Alan')`);
      await writer.query(`UPDATE "we""ird; DROP TABLE victim; --" SET "emp'id" = 3 WHERE "emp'id" = 2`);
      await writer.query(`DELETE FROM "we""ird; DROP TABLE victim; --" WHERE "emp'id" = 1`);
    } finally {
      await writer.end();
    }
    const changes = await readChanges(admin, c, consumer, 100);
    expect(changes.anchors).toEqual(["1", "2", "3"]);
    const read = await readByAnchors(admin, c, await loadTable(admin, c), changes.anchors);
    expect(read.objects.map((o) => [o.anchor, o.attributes])).toEqual([["3", { "emp'id": 3, name: "Alan" }]]);
    expect(read.missing).toEqual(["1", "2"]);
    await forgetChanges(admin, c, changes.ids);
    expect((await readChanges(admin, c, consumer, 100)).ids).toEqual([]);
    await new Promise((r) => setTimeout(r, 50));
    expect(new Set(notified)).toEqual(new Set([consumer]));
    expect((await admin.query("SELECT count(*)::int AS n FROM victim")).rows[0].n).toBe(0);
  });

  it("removes the trigger, the function and the log table once no consumer is left", async () => {
    const c = sourceConfig();
    await removeChangeLog(admin, c, consumer);
    expect(await changeLogInstalled(admin, c, consumer)).toBe(false);
    const left = await admin.query("SELECT to_regclass('metasync_change_log') AS log, to_regproc('metasync_log_change') AS fn");
    expect(left.rows[0]).toEqual({ log: null, fn: null });
  });
});
