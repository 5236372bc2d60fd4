import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOCK_CLASS } from "../../../src/jobs/watchers/supervisor.ts";
import { ok } from "../../e2e/helpers.ts";
import { waitFor } from "../../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { createTestDatabaseUrl } from "../../helpers/database.ts";
import { type ExampleHarness, startExample } from "../../helpers/examples.ts";

// A PostgreSQL source table watched through LISTEN/NOTIFY: rows inserted, updated and deleted in
// a real source database reach a CSV phone book through the inbox and REALTIME/EXPORT runs, with
// no run started by the test. The worker's own watchers do it; the poll is set to an hour, so
// only notifications (and the pass at a watcher's start) can bring a change.
let h: ExampleHarness;
let app: TestApp;
let source: pg.Client;
let phonebookFile: string;

const yaml = (url: string, dir: string) => `
connectedSystems:
  - name: staff
    kind: SQL
    config: { connectionString: "${url}", table: staff, anchor: employee_id, objectType: person }
  - name: phonebook
    kind: CSV
    breaker: { maxDeletes: 20 }
    config: { path: ${dir}/phonebook.csv, anchor: employeeId, objectType: entry }
syncRules:
  - name: staff-in
    connectedSystem: staff
    direction: INBOUND
    objectType: person
    metaverseObjectType: person
    projectToMetaverse: true
    mvoDeletionRule: WHEN_AUTHORITATIVE_SOURCE_DISCONNECTS
    joinRules: [{ source: employee_id, metaverseAttribute: employeeId }]
    attributeFlows:
      - { target: employeeId, source: employee_id }
      - { target: name, source: full_name }
      - { target: title, source: title }
  - name: phonebook-out
    connectedSystem: phonebook
    direction: OUTBOUND
    objectType: entry
    metaverseObjectType: person
    provisionToConnector: true
    deprovision: DELETE
    attributeFlows:
      - { target: employeeId, source: employeeId }
      - { target: name, source: name }
      - { target: title, source: title }
`;

beforeAll(async () => {
  h = await startExample(null);
  app = await startTestApp(h.services);
  const url = await createTestDatabaseUrl();
  source = new pg.Client({ connectionString: url });
  await source.connect();
  await source.query(`CREATE TABLE staff (employee_id text PRIMARY KEY, full_name text NOT NULL, title text);
    INSERT INTO staff VALUES ('E1', 'Ada Lovelace', 'CTO'), ('E2', 'Alan Turing', 'Engineer')`);
  phonebookFile = path.join(h.files, "phonebook.csv");
  const file = path.join(h.files, "watch-sql.yaml");
  writeFileSync(file, yaml(url, h.files));
  await h.cli(["apply", file]);
  await h.cli(["systems", "discover", "staff", "phonebook"]);
  await h.run("staff", "FULL_IMPORT");
  await h.run("staff", "DELTA_SYNC");
  await h.run("phonebook", "EXPORT");
});
afterAll(async () => {
  await app?.stop();
  await h?.stop();
  await source?.end();
});

const phonebook = () => (existsSync(phonebookFile) ? readFileSync(phonebookFile, "utf8").trimEnd().split("\n").slice(1) : []);
const line = (id: string) => phonebook().find((l) => l.startsWith(`${id},`)) ?? null;
const staffId = async () => (await ok(app, '{ connectedSystem(name: "staff") { id } }')).connectedSystem.id as string;

async function setWatch(watch: boolean) {
  const system = await h.services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { name: "staff" } });
  const settings = await h.services.systems.currentSettings(system);
  // The stored config without its secret: left out, the connection string is kept.
  await h.services.systems.update(system.id, {
    name: system.name,
    kind: system.kind,
    config: settings.config,
    realtime: { enabled: true, watch, windowMs: 10, pollIntervalMs: 3_600_000 },
  });
  await h.services.bus.publish("systems", { change: "UPDATED", id: system.id });
}
const watched = async () =>
  (await h.services.db.pool.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::oid", [LOCK_CLASS]))
    .rowCount === 1;

describe("SQL watcher", () => {
  it("installs change notifications in the source database only when asked, and says what it made", async () => {
    const id = await staffId();
    const before = await ok(app, "query($id: ID!) { changeNotifications(connectedSystemId: $id) { installed } }", { id });
    expect(before.changeNotifications.installed).toBe(false);
    const { installChangeNotifications: made } = await ok(
      app,
      "mutation($id: ID!) { installChangeNotifications(connectedSystemId: $id) { installed table logTable function trigger channel } }",
      { id },
    );
    expect(made).toMatchObject({
      installed: true,
      table: "public.staff",
      logTable: "public.metasync_change_log",
      function: "public.metasync_log_change()",
      channel: "metasync_change",
    });
    const triggers = await source.query("SELECT tgname FROM pg_trigger WHERE tgrelid = 'staff'::regclass AND NOT tgisinternal");
    expect(triggers.rows.map((r) => r.tgname)).toEqual([made.trigger]);
    const csv = await ok(app, '{ connectedSystem(name: "phonebook") { id } }');
    const refused = await app.gql("mutation($id: ID!) { installChangeNotifications(connectedSystemId: $id) { installed } }", {
      id: csv.connectedSystem.id,
    });
    expect(refused.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("pushes rows inserted, updated and deleted in the table until they reach the phone book", async () => {
    expect(line("E1")).toBe("E1,Ada Lovelace,CTO");
    const manualRuns = await h.services.db.prisma.run.count({ where: { trigger: { not: "REALTIME" } } });
    await setWatch(true);
    await waitFor(watched, 15_000);

    await source.query("INSERT INTO staff VALUES ('E3', 'Grace Hopper', 'Engineer')");
    expect(await waitFor(async () => line("E3"), 30_000, 100)).toBe("E3,Grace Hopper,Engineer");
    await source.query("UPDATE staff SET title = 'Rear Admiral' WHERE employee_id = 'E3'");
    await waitFor(async () => line("E3") === "E3,Grace Hopper,Rear Admiral", 30_000, 100);
    await source.query("DELETE FROM staff WHERE employee_id = 'E2'");
    await waitFor(async () => line("E2") === null, 30_000, 100);

    expect(await h.services.db.prisma.run.count({ where: { trigger: { not: "REALTIME" } } })).toBe(manualRuns);
    // Pushed and forgotten: the source's log holds nothing any more.
    expect((await source.query("SELECT count(*)::int AS n FROM metasync_change_log")).rows[0].n).toBe(0);
  });

  it("keeps a change made while no watcher runs and pushes it when one starts again", async () => {
    await setWatch(false);
    await waitFor(async () => !(await watched()), 15_000);
    await source.query("INSERT INTO staff VALUES ('E4', 'Katherine Johnson', 'Analyst')");
    await new Promise((r) => setTimeout(r, 500));
    expect(line("E4")).toBeNull();
    await setWatch(true);
    expect(await waitFor(async () => line("E4"), 30_000, 100)).toBe("E4,Katherine Johnson,Analyst");
  });

  it("removes what it installed", async () => {
    const id = await staffId();
    const { removeChangeNotifications } = await ok(
      app,
      "mutation($id: ID!) { removeChangeNotifications(connectedSystemId: $id) { installed } }",
      { id },
    );
    expect(removeChangeNotifications.installed).toBe(false);
    const left = await source.query(
      "SELECT to_regclass('metasync_change_log') AS log, to_regproc('metasync_log_change') AS fn, (SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'staff'::regclass AND NOT tgisinternal) AS triggers",
    );
    expect(left.rows[0]).toEqual({ log: null, fn: null, triggers: 0 });
  });
});
