import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImportPage } from "../../src/connectors/connector.ts";
import { createConnector } from "../../src/connectors/index.ts";
import type { RunProfile } from "../../src/generated/prisma/enums.ts";
import { waitForStatus } from "../fixtures/runs.ts";
import { MemoryImportContext } from "../helpers/import-context.ts";
import { createWorld, people, type SystemName, type World } from "./world.ts";

// An HR file that is cut short or rewritten while it is read must never be taken for the truth:
// a full import infers a delete for every anchor it did not see, so half a file would delete
// half the people. `npm test` runs the small size; RELIABILITY_SIZE=full a larger one.
const FULL = process.env.RELIABILITY_SIZE === "full";
const PEOPLE = FULL ? 1_000 : 120;
const ENDED = ["COMPLETED", "PARTIAL", "FAILED", "CANCELLED"];
const dir = mkdtempSync(path.join(tmpdir(), "metasync-file-faults-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a CSV file rewritten in place while it is read", () => {
  // Big enough that the reader is still streaming it (256 KiB chunks) after the first page.
  const ROWS = 25_000;
  const content = [
    "id,name",
    ...Array.from({ length: ROWS }, (_, i) => `P${String(i).padStart(6, "0")},Person number ${i}`),
  ].join("\n");
  const cut = ["id,name", ...Array.from({ length: 100 }, (_, i) => `P${String(i).padStart(6, "0")},Person number ${i}`)].join(
    "\n",
  );

  /** Pages of an import, the file truncated in place (same inode, as `>` in a shell) after the first. */
  async function readWhileTruncated(pages: AsyncIterable<ImportPage>) {
    const seen: ImportPage[] = [];
    let failure: unknown = null;
    try {
      for await (const page of pages) {
        seen.push(page);
        if (seen.length === 1) writeFileSync(file, cut);
      }
    } catch (e) {
      failure = e;
    }
    return { seen, failure };
  }
  const file = path.join(dir, "people.csv");

  it("full import: fails transient INVALID_INPUT before its last page, so no delete is inferred; the retry reads the new version whole", async () => {
    writeFileSync(file, content);
    const connector = await createConnector(
      "CSV",
      { path: file, anchor: "id", pageSize: 500 },
      { logger: pino({ level: "silent" }) },
    );
    const { seen, failure } = await readWhileTruncated(connector.importFull(null, new MemoryImportContext()));
    expect(failure).toMatchObject({
      code: "INVALID_INPUT",
      transient: true,
      message: expect.stringMatching(/people\.csv changed while it was read/),
    });
    // The page that completes a full import (its watermark) never came: the engine infers nothing.
    expect(seen.some((p) => p.watermark !== undefined)).toBe(false);
    expect(seen.reduce((n, p) => n + p.objects.length, 0)).toBeLessThan(ROWS);

    const again: ImportPage[] = [];
    for await (const page of connector.importFull(seen.at(-1)?.checkpoint ?? null, new MemoryImportContext())) again.push(page);
    expect(again.flatMap((p) => p.objects.map((o) => o.anchor))).toHaveLength(100);
    await connector.close();
  });

  it("delta import: fails before comparing anchors, so the rows after the cut are not reported deleted", async () => {
    writeFileSync(file, content);
    const connector = await createConnector(
      "CSV",
      { path: file, anchor: "id", pageSize: 500 },
      { logger: pino({ level: "silent" }) },
    );
    const context = new MemoryImportContext(5_000);
    const full: ImportPage[] = [];
    for await (const page of connector.importFull(null, context)) full.push(page);
    context.apply(full, "full");
    // Another version of the file, so the delta reads it (same size and time: nothing to read).
    writeFileSync(file, content.replace("Person number 7\n", "Person number 7b\n"));
    const { seen, failure } = await readWhileTruncated(connector.importDelta(full.at(-1)!.watermark, null, context));
    expect(failure).toMatchObject({ code: "INVALID_INPUT", transient: true });
    expect(seen.flatMap((p) => p.deletes)).toEqual([]);
    await connector.close();
  });
});

describe("an HR file cut short", { timeout: 180_000 }, () => {
  let world: World;
  const rows = people(PEOPLE);
  let whole: string;

  async function run(system: SystemName, profile: RunProfile) {
    const started = await world.services.startGate.start({ connectedSystemId: world.ids[system], profile, trigger: "API" });
    if (started.outcome !== "ACCEPTED") throw new Error(`${profile} ${system}: ${started.outcome}`);
    return waitForStatus(world.services, started.run.id, ENDED, 120_000);
  }
  const counts = async (sql: string, params: unknown[]) =>
    Object.fromEntries((await world.services.db.pool.query<{ k: string; n: number }>(sql, params)).rows.map((r) => [r.k, r.n]));
  const hrObjects = () =>
    counts("SELECT status::text AS k, count(*)::int AS n FROM connector_space_object WHERE connected_system_id = $1 GROUP BY 1", [
      world.ids.hr,
    ]);
  const deletes = () =>
    counts(
      `SELECT s.name || ' ' || p.status AS k, count(*)::int AS n FROM pending_export p JOIN connected_system s ON s.id = p.connected_system_id
        WHERE p.change_type = 'DELETE' GROUP BY 1`,
      [],
    );
  async function targets() {
    const snapshot = await world.snapshot();
    return { ldap: snapshot.ldap.length, sql: snapshot.sql.length };
  }
  /** The file as it would be had a copy stopped `fraction` of the way through, in the middle of a row. */
  function cutAt(fraction: number, inRow: (row: string) => number) {
    const start = whole.indexOf("\n", Math.floor(whole.length * fraction)) + 1;
    const row = whole.slice(start, whole.indexOf("\n", start));
    return { text: whole.slice(0, start + inRow(row)), line: whole.slice(0, start).split("\n").length };
  }

  beforeAll(async () => {
    world = await createWorld(rows, { import: 25, sync: 30, export: 50 });
    whole = readFileSync(world.hrFile, "utf8");
    for (const [system, profile] of [
      ["hr", "FULL_IMPORT"],
      ["hr", "FULL_SYNC"],
      ["ldap", "EXPORT"],
      ["sql", "EXPORT"],
    ] as const)
      expect((await run(system, profile)).status).toBe("COMPLETED");
  }, 180_000);
  afterAll(async () => {
    await world?.close();
  });

  it("cut inside a row (fields missing): a located error, PARTIAL, the rest imported, no delete inferred", async () => {
    // Cut after the row's second comma: three of its five fields.
    const { text, line } = cutAt(0.6, (row) => row.indexOf(",", row.indexOf(",") + 1) + 1);
    writeFileSync(world.hrFile, text);
    const imported = await run("hr", "FULL_IMPORT");
    expect(imported).toMatchObject({ status: "PARTIAL", reasonCode: "RECORDS_FAILED", failed: 1, deleted: 0 });
    const [error] = await world.services.db.prisma.runChange.findMany({
      where: { runId: imported.id, errorCode: { not: null } },
    });
    expect(error).toMatchObject({ location: `hr.csv:${line}` });
    expect(await hrObjects()).toEqual({ NORMAL: PEOPLE });
    expect((await run("hr", "FULL_SYNC")).status).toBe("COMPLETED");
    expect(await deletes()).toEqual({});
    expect(await targets()).toEqual({ ldap: PEOPLE, sql: PEOPLE });
  });

  // A cut at a row's end looks like a shorter file: the people after it leave. With rules that
  // delete leavers from both targets, the mass-change breaker (default: 5%) holds the deletes.
  it("cut at a row's end, where it looks complete: the deletes it implies are held by the mass-change breaker, none reaches a target", async () => {
    await world.services.db.prisma.syncRule.updateMany({ where: { direction: "OUTBOUND" }, data: { deprovision: "DELETE" } });
    await world.services.db.prisma.syncRule.updateMany({
      where: { direction: "INBOUND" },
      data: { mvoDeletionRule: "WHEN_AUTHORITATIVE_SOURCE_DISCONNECTS" },
    });
    const { text } = cutAt(0.6, () => 0);
    writeFileSync(world.hrFile, text);
    const kept = text.trimEnd().split("\n").length - 1;
    expect((await run("hr", "FULL_IMPORT")).status).toBe("COMPLETED");
    expect(await hrObjects()).toEqual({ NORMAL: kept, OBSOLETE: PEOPLE - kept });
    expect((await run("hr", "FULL_SYNC")).status).toBe("COMPLETED");
    expect(await deletes()).toEqual({ "ldap AWAITING_APPROVAL": PEOPLE - kept, "sql AWAITING_APPROVAL": PEOPLE - kept });
    await run("ldap", "EXPORT");
    await run("sql", "EXPORT");
    expect(await targets()).toEqual({ ldap: PEOPLE, sql: PEOPLE });
  });
});
