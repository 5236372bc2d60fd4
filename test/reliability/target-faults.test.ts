import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunProfile } from "../../src/generated/prisma/enums.ts";
import { waitFor, waitForStatus } from "../fixtures/runs.ts";
import { createWorld, type Person, people, type SystemName, type World } from "./world.ts";

// Faults of the connected systems under real export runs executed by a worker process: a
// directory that goes away mid-export, one that stops answering, one whose password changed, a
// SQL table refusing some rows. Each run ends with its documented status (FAILED with a stable
// code and next steps, BLOCKED, or PARTIAL with per-object errors), and the next runs apply the
// rest: every person ends in the directory and the table exactly once. `npm test` runs the small
// size; `npm run test:reliability` (RELIABILITY_SIZE=full) a larger one.
const FULL = process.env.RELIABILITY_SIZE === "full";
const PEOPLE = FULL ? 600 : 120;
const BATCHES = FULL ? { import: 100, sync: 100, export: 50 } : { import: 25, sync: 30, export: 20 };
const ENDED = ["COMPLETED", "PARTIAL", "FAILED", "CANCELLED"];

let world: World;
let rows: Person[];

async function start(system: SystemName, profile: RunProfile) {
  return world.services.startGate.start({ connectedSystemId: world.ids[system], profile, trigger: "API" });
}

/** Starts a run that must be accepted and waits for its end. */
async function run(system: SystemName, profile: RunProfile) {
  const started = await start(system, profile);
  if (started.outcome !== "ACCEPTED") throw new Error(`${profile} ${system}: ${started.outcome} ${JSON.stringify(started)}`);
  return waitForStatus(world.services, started.run.id, ENDED, 120_000);
}

async function exportsOf(system: SystemName) {
  const { rows } = await world.services.db.pool.query<{ change_type: string; status: string; n: number }>(
    `SELECT change_type, status, count(*)::int AS n FROM pending_export WHERE connected_system_id = $1 GROUP BY 1, 2`,
    [world.ids[system]],
  );
  return Object.fromEntries(rows.map((r) => [`${r.change_type} ${r.status}`, r.n]));
}

/** Export runs paced to `perSecond` objects, so a fault can land between two batches. */
async function pace(system: SystemName, perSecond: number | null) {
  await world.services.db.prisma.connectedSystem.update({
    where: { id: world.ids[system] },
    data: { rateLimit: perSecond ? { objectsPerSecond: perSecond } : { objectsPerSecond: null } },
  });
}

/** Waits until the run stored its first answered batch, then returns it. */
async function startedExporting(id: string) {
  return waitFor(async () => {
    const row = await world.services.db.prisma.run.findUniqueOrThrow({ where: { id } });
    if (ENDED.includes(row.status)) throw new Error(`the export ended ${row.status} before the fault`);
    return row.processed > 0 ? row : null;
  }, 60_000);
}

function ldapConfig(password: string, extra: Record<string, unknown> = {}) {
  return {
    url: world.slapd.url,
    bindDn: world.slapd.bindDn,
    bindPassword: password,
    baseDn: `ou=people,${world.slapd.baseDn}`,
    objectClasses: ["inetOrgPerson"],
    objectType: "person",
    ...extra,
  };
}

function writeHr(list: Person[]) {
  writeFileSync(
    world.hrFile,
    [
      "employeeId,givenName,sn,department,managerId",
      ...list.map((p) => [p.employeeId, p.givenName, p.sn, p.department, p.managerId].join(",")),
    ].join("\n"),
  );
}

/** HR changes `count` people's department: an UPDATE export per person to each target. */
async function moveDepartment(count: number, department: string) {
  rows = rows.map((p, i) => (i < count ? { ...p, department } : p));
  writeHr(rows);
  expect((await run("hr", "FULL_IMPORT")).status).toBe("COMPLETED");
  expect((await run("hr", "FULL_SYNC")).status).toBe("COMPLETED");
}

async function ldapDepartments() {
  const snapshot = await world.snapshot();
  return snapshot.ldap.map((e) => JSON.parse(e) as { dn: string; departmentNumber?: string; employeeNumber: string });
}

beforeAll(async () => {
  rows = people(PEOPLE);
  world = await createWorld(rows, BATCHES);
  expect((await run("hr", "FULL_IMPORT")).status).toBe("COMPLETED");
  expect((await run("hr", "FULL_SYNC")).status).toBe("COMPLETED");
}, 120_000);
afterAll(async () => {
  await world?.close();
});

// Each test is several runs through a worker process: generous on a loaded machine.
describe("a directory that goes away, hangs or changes its password", { timeout: 240_000 }, () => {
  it("slapd stopped mid-export: the run FAILS as unreachable with every unsent export kept; after a restart the next export applies the rest once", async () => {
    // Two batches a second: slapd is stopped once the first answered batch is stored.
    await pace("ldap", BATCHES.export / 2);
    const started = await start("ldap", "EXPORT");
    if (started.outcome !== "ACCEPTED") throw new Error(started.outcome);
    const atStop = await startedExporting(started.run.id);
    let failed: Awaited<ReturnType<typeof waitForStatus>> | undefined;
    await world.slapd.restart(async () => {
      failed = await waitForStatus(world.services, started.run.id, ENDED, 60_000);
    });
    expect(failed).toMatchObject({ status: "FAILED", reasonCode: "CONNECTION_FAILED" });
    expect(failed?.nextSteps.length).toBeGreaterThan(0);
    expect(failed!.created).toBeGreaterThanOrEqual(atStop.created);
    expect(failed!.created).toBeLessThan(PEOPLE);
    // Applied ones are EXPORTED, the rest wait as they were: none lost, none half-done (EXECUTING).
    const after = await exportsOf("ldap");
    expect(after["CREATE EXECUTING"]).toBeUndefined();
    expect(after["CREATE ERROR"]).toBeUndefined();
    expect((after["CREATE EXPORTED"] ?? 0) + (after["CREATE PENDING"] ?? 0)).toBe(PEOPLE);
    expect(after["CREATE EXPORTED"]).toBe(failed!.created);

    await pace("ldap", null);
    const next = await run("ldap", "EXPORT");
    expect(next).toMatchObject({ status: "COMPLETED", failed: 0, created: PEOPLE - failed!.created });
    expect((await run("ldap", "FULL_IMPORT")).status).toBe("COMPLETED");
    const entries = await ldapDepartments();
    expect(new Set(entries.map((e) => e.employeeNumber)).size).toBe(PEOPLE);
    expect(entries).toHaveLength(PEOPLE);
    const settled = await exportsOf("ldap");
    expect(settled["CREATE CONFIRMED"]).toBe(PEOPLE);
    expect(Object.keys(settled).filter((k) => !k.endsWith("CONFIRMED"))).toEqual([]);
  });

  it("slapd hangs (SIGSTOP): a start is BLOCKED (TIMEOUT); a run already going fails TIMEOUT within the timeout; after SIGCONT the next export applies everything once", async () => {
    const timeoutMs = 400;
    await world.services.systems.update(world.ids.ldap, {
      name: "ldap",
      kind: "LDAP",
      config: ldapConfig(world.slapd.password, { timeoutMs }),
    });
    await moveDepartment(Math.min(40, PEOPLE), "HUNG");

    world.slapd.pause();
    try {
      const blocked = await start("ldap", "EXPORT");
      expect(blocked.outcome).toBe("BLOCKED");
      expect(blocked.failure?.reasonCode).toBe("TIMEOUT");

      // Accepted while the server answered; it hangs before the worker's first request.
      world.slapd.resume();
      const started = await start("ldap", "EXPORT");
      world.slapd.pause();
      if (started.outcome !== "ACCEPTED") throw new Error(started.outcome);
      const ended = await waitForStatus(world.services, started.run.id, ENDED, 60_000);
      expect(ended.status).toBe("FAILED");
      expect(ended.reasonCode).toBe("TIMEOUT");
      expect(ended.nextSteps.length).toBeGreaterThan(0);
    } finally {
      world.slapd.resume();
    }
    const waiting = await exportsOf("ldap");
    expect(waiting["UPDATE EXECUTING"]).toBeUndefined();
    expect(waiting["UPDATE ERROR"]).toBeUndefined();

    const next = await run("ldap", "EXPORT");
    expect(next).toMatchObject({ status: "COMPLETED", failed: 0 });
    expect((await run("ldap", "FULL_IMPORT")).status).toBe("COMPLETED");
    const entries = await ldapDepartments();
    expect(entries).toHaveLength(PEOPLE);
    expect(entries.filter((e) => e.departmentNumber === "HUNG")).toHaveLength(Math.min(40, PEOPLE));
    expect(Object.keys(await exportsOf("ldap")).filter((k) => !k.endsWith("CONFIRMED"))).toEqual([]);
  });

  it("bind password changed mid-export: the run FAILS AUTH_FAILED with next steps, a new start is BLOCKED; with the new password the rest is applied once", async () => {
    await moveDepartment(PEOPLE, "MOVED");
    await pace("ldap", BATCHES.export / 2);
    const started = await start("ldap", "EXPORT");
    if (started.outcome !== "ACCEPTED") throw new Error(started.outcome);
    await startedExporting(started.run.id);
    await world.slapd.changePassword("changed-by-the-directory-admin");
    const failed = await waitForStatus(world.services, started.run.id, ENDED, 60_000);
    expect(failed).toMatchObject({ status: "FAILED", reasonCode: "AUTH_FAILED" });
    expect(failed.nextSteps).toEqual(["Fix the cause above and start the run again"]);
    expect(failed.updated).toBeLessThan(PEOPLE);
    const kept = await exportsOf("ldap");
    expect(kept["UPDATE EXECUTING"]).toBeUndefined();
    expect(kept["UPDATE ERROR"]).toBeUndefined();

    const blocked = await start("ldap", "EXPORT");
    expect(blocked.outcome).toBe("BLOCKED");
    expect(blocked.failure?.reasonCode).toBe("AUTH_FAILED");
    expect(blocked.failure?.nextSteps.join(" ")).toMatch(/updateConnectedSystem/);

    await pace("ldap", null);
    await world.services.systems.update(world.ids.ldap, {
      name: "ldap",
      kind: "LDAP",
      config: ldapConfig(world.slapd.password),
    });
    expect(await run("ldap", "EXPORT")).toMatchObject({ status: "COMPLETED", failed: 0 });
    expect((await run("ldap", "FULL_IMPORT")).status).toBe("COMPLETED");
    const entries = await ldapDepartments();
    expect(entries).toHaveLength(PEOPLE);
    expect(entries.every((e) => e.departmentNumber === "MOVED")).toBe(true);
    expect(Object.keys(await exportsOf("ldap")).filter((k) => !k.endsWith("CONFIRMED"))).toEqual([]);
  });
});

describe("a SQL table that refuses some rows", { timeout: 240_000 }, () => {
  it("PARTIAL with per-row errors naming each row, the rest applied; foreign key refusals retried with backoff until they apply or reach ERROR", async () => {
    const { sql } = world;
    // Departments the table knows; HR moves some people to one that comes later (NEW) and some
    // to one that never comes (GONE); a check refuses one given name outright.
    const later = Math.max(2, Math.floor(PEOPLE / 12));
    rows = rows.map((p, i) => ({ ...p, department: i < later ? "NEW" : i < 2 * later ? "GONE" : "MOVED" }));
    writeHr(rows);
    expect((await run("hr", "FULL_IMPORT")).status).toBe("COMPLETED");
    expect((await run("hr", "FULL_SYNC")).status).toBe("COMPLETED");
    await sql.query("CREATE TABLE departments (code text PRIMARY KEY)");
    await sql.query("INSERT INTO departments VALUES ('MOVED')");
    await sql.query("ALTER TABLE accounts ADD FOREIGN KEY (department) REFERENCES departments (code)");
    await sql.query("ALTER TABLE accounts ADD CONSTRAINT no_given7 CHECK (display_name NOT LIKE 'Given7 %')");
    // (PostgreSQL checks CHECK constraints before foreign keys: a Given7 in NEW is refused by the check.)
    const checked = rows.filter((p) => p.givenName === "Given7").map((p) => p.employeeId);
    const refused = rows.filter((p) => p.givenName === "Given7" || p.department !== "MOVED").length;
    expect(checked.length).toBeGreaterThan(0);

    const first = await run("sql", "EXPORT");
    expect(first).toMatchObject({ status: "PARTIAL", reasonCode: "RECORDS_FAILED", created: PEOPLE - refused, failed: refused });
    const errors = await world.services.db.prisma.runChange.findMany({
      where: { runId: first.id, changeType: "EXPORT_FAILED" },
    });
    expect(errors).toHaveLength(refused);
    const byEmployee = new Map(errors.map((e) => [e.message!.match(/E\d{5}/)?.[0], e]));
    // Each error names its row (the anchor, in the message) and the constraint it broke.
    for (const id of checked)
      expect(byEmployee.get(id)).toMatchObject({ errorCode: "SCHEMA_VIOLATION", message: expect.stringMatching(/no_given7/) });
    const fk = rows.find((p) => p.department === "GONE" && p.givenName !== "Given7")!;
    expect(byEmployee.get(fk.employeeId)?.message).toMatch(/foreign key.*\(department\)=\(GONE\)/s);
    expect((await sql.query("SELECT count(*)::int AS n FROM accounts")).rows[0].n).toBe(PEOPLE - refused);

    // The check's refusals are permanent: ERROR at once. The foreign key's wait with growing delays.
    const pending = async () =>
      (
        await world.services.db.pool.query<{ status: string; error_count: number; delay: number; id: string; anchor: string }>(
          `SELECT p.id, p.status, p.error_count, extract(epoch FROM p.next_retry_at - p.updated_at) AS delay,
                  p.attribute_changes::text AS anchor
             FROM pending_export p WHERE p.connected_system_id = $1 AND p.status IN ('FAILED', 'ERROR')`,
          [world.ids.sql],
        )
      ).rows;
    const dueNow = () =>
      world.services.db.pool.query(
        "UPDATE pending_export SET next_retry_at = now() WHERE connected_system_id = $1 AND status = 'FAILED'",
        [world.ids.sql],
      );
    let failing = await pending();
    expect(failing.filter((e) => e.status === "ERROR")).toHaveLength(checked.length);
    expect(failing.filter((e) => e.status === "FAILED")).toHaveLength(refused - checked.length);
    const delays = [Math.min(...failing.filter((e) => e.status === "FAILED").map((e) => Number(e.delay)))];

    // A retry time comes while NEW is still unknown: refused again, the next retry later still.
    await dueNow();
    // Every export of this run refused: FAILED (RECORDS_FAILED), each with its own error.
    expect(await run("sql", "EXPORT")).toMatchObject({ status: "FAILED", reasonCode: "RECORDS_FAILED", created: 0 });
    failing = await pending();
    delays.push(Math.min(...failing.filter((e) => e.status === "FAILED").map((e) => Number(e.delay))));
    expect(delays[1]).toBeGreaterThan(delays[0]! * 1.3);

    // NEW arrives: its rows apply at their next retry; GONE's go on failing until ERROR (5 tries).
    await sql.query("INSERT INTO departments VALUES ('NEW')");
    for (let attempt = 3; attempt <= 5; attempt++) {
      await dueNow();
      await run("sql", "EXPORT");
    }
    failing = await pending();
    const gone = rows.filter((p) => p.department === "GONE" && p.givenName !== "Given7").length;
    expect(failing.filter((e) => e.status === "ERROR")).toHaveLength(checked.length + gone);
    expect(failing.filter((e) => e.status === "FAILED")).toEqual([]);
    expect(failing.filter((e) => e.status === "ERROR" && e.error_count === 5)).toHaveLength(gone);

    // Fixed at the source of the refusal, the ERROR exports are retried by hand and apply: nothing lost.
    await sql.query("ALTER TABLE accounts DROP CONSTRAINT no_given7");
    await sql.query("INSERT INTO departments VALUES ('GONE')");
    await world.services.pendingExports.retry(failing.map((e) => e.id));
    expect(await run("sql", "EXPORT")).toMatchObject({ status: "COMPLETED", failed: 0 });
    expect((await run("sql", "FULL_IMPORT")).status).toBe("COMPLETED");
    const table = (await sql.query("SELECT id, department FROM accounts ORDER BY id")).rows;
    expect(table).toEqual(rows.map((p) => ({ id: p.employeeId, department: p.department })));
    expect(Object.keys(await exportsOf("sql")).filter((k) => !k.endsWith("CONFIRMED"))).toEqual([]);
  });
});
