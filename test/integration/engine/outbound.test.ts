import { beforeEach, describe, expect, it } from "vitest";
import { createExportExecutor } from "../../../src/engine/outbound/run-export.ts";
import { expandAttributeChanges } from "../../../src/engine/run-changes.ts";
import type { Services } from "../../../src/services.ts";
import { MemoryTarget } from "../../fixtures/memory-target.ts";
import { runEngine } from "../../helpers/engine-run.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";
import { person, sourceSystem } from "../../helpers/sync-fixtures.ts";

let services: Services;
beforeEach(async () => {
  services = await createTestServices();
  return () => closeTestServices(services);
});

const hrRule = {
  projectToMetaverse: true,
  precedence: 10,
  joinRules: [{ source: "id", metaverseAttribute: "employeeId" }],
  mvoDeletionRule: "WHEN_AUTHORITATIVE_SOURCE_DISCONNECTS",
  attributeFlows: [
    { target: "employeeId", source: "id" },
    { target: "givenName", source: "givenName" },
    { target: "sn", source: "sn" },
    { target: "department", source: "department" },
    { target: "manager", source: "manager" },
  ],
};

async function setup(outbound: Record<string, unknown> = {}, system: { deleteThreshold?: number } = {}) {
  const hr = await sourceSystem(
    services,
    "hr",
    [
      person("E1", { givenName: "Ada", sn: "Lovelace", department: "R&D" }),
      person("E2", { givenName: "Ada", sn: "Byron", department: "R&D", manager: "E1" }),
      person("E3", { givenName: "Alan", sn: "Turing", department: "Ops" }),
    ],
    hrRule,
  );
  const target = new MemoryTarget();
  const dir = await services.systems.create({
    name: "dir",
    kind: "CSV",
    config: { path: "/tmp/dir.csv", anchor: "uid" },
    deleteThreshold: system.deleteThreshold ?? null,
    // 3 objects: one leaver is 33%, which the default mass-change protection (5%) would hold.
    breaker: { enabled: false },
  });
  await services.db.prisma.syncRule.create({
    data: {
      name: "dir-out",
      connectedSystemId: dir.id,
      direction: "OUTBOUND",
      objectType: "person",
      metaverseObjectType: "person",
      provisionToConnector: true,
      deprovision: "DELETE",
      attributeFlows: [
        { target: "uid", expression: "$n = 1 ? $lowercase(givenName) : $lowercase(givenName) & $n", unique: true },
        { target: "dn", expression: "'uid=' & $uid & ',ou=' & department & ',dc=x'", unique: true },
        { target: "sn", source: "sn" },
        { target: "ou", source: "department" },
        { target: "manager", source: "manager", reference: true },
      ],
      ...outbound,
    } as never,
  });
  const exportRun = (dryRun = false) =>
    runEngine(services, {
      systemId: dir.id,
      profile: "EXPORT",
      executor: createExportExecutor({ batchSize: 50, retryBaseMs: 10 }),
      connector: target,
      dryRun,
    });
  const importTarget = () => runEngine(services, { systemId: dir.id, profile: "FULL_IMPORT", connector: target });
  const exports = (where: Record<string, unknown> = {}) =>
    services.db.prisma.pendingExport.findMany({ where: { connectedSystemId: dir.id, ...where }, orderBy: { createdAt: "asc" } });
  return { hr, target, dirId: dir.id, exportRun, importTarget, exports };
}

describe("export planning and export runs", () => {
  it("unlinks pending exports from a deleted object, rule or run, as ON DELETE SET NULL would", async () => {
    const { hr, exports } = await setup();
    await hr.importAndSync();
    const [first, second] = await exports({ changeType: "CREATE" });
    const pool = services.db.pool;
    await pool.query("DELETE FROM connector_space_object WHERE id = $1", [first!.connectorSpaceObjectId]);
    const unlinked = await services.db.prisma.pendingExport.findUniqueOrThrow({
      where: { id: first!.id },
      include: { connectorSpaceObject: true },
    });
    expect(unlinked).toMatchObject({ connectorSpaceObjectId: null, connectorSpaceObject: null });
    // Only the deleted object's export: the others keep their links.
    expect((await services.db.prisma.pendingExport.findUniqueOrThrow({ where: { id: second!.id } })).connectorSpaceObjectId).toBe(
      second!.connectorSpaceObjectId,
    );
    expect(await services.syncRules.delete(first!.syncRuleId!)).toBe(true);
    expect((await exports()).every((e) => e.syncRuleId === null)).toBe(true);
    await pool.query("DELETE FROM run WHERE id = $1", [first!.planningRunId]);
    expect((await exports()).map((e) => e.planningRunId)).toEqual([null, null, null]);
    await pool.query("DELETE FROM metaverse_object WHERE id = $1", [second!.metaverseObjectId]);
    expect(
      (await services.db.prisma.pendingExport.findUniqueOrThrow({ where: { id: second!.id } })).metaverseObjectId,
    ).toBeNull();
  });

  it("records each planned export in its run change, stored compact and read back exactly as planned", async () => {
    const { hr, exports } = await setup();
    await hr.importAndSync();
    const planned = await services.db.prisma.runChange.findMany({ where: { changeType: "EXPORT_PLANNED" } });
    expect(planned).toHaveLength(3);
    for (const change of planned) {
      const created = (await exports({ connectorSpaceObjectId: change.connectorSpaceObjectId }))[0]!;
      const stored = change.attributeChanges as { changes: unknown[] };
      // [attribute, operation, values] (status fourth unless PENDING): no key names per change.
      expect(stored.changes.every(Array.isArray)).toBe(true);
      expect(expandAttributeChanges(change.attributeChanges, change)).toEqual({
        changeType: "CREATE",
        status: "PENDING",
        dn: expect.stringMatching(/^uid=/),
        changes: created.attributeChanges,
      });
    }
    // E2's manager (E1) is provisioned in the same run: that change waits for its reference.
    const waiting = planned.flatMap(
      (c) => (expandAttributeChanges(c.attributeChanges, c) as { changes: { status: string }[] }).changes,
    );
    expect(waiting.filter((c) => c.status === "AWAITING_REFERENCE")).toHaveLength(1);
  });

  it("provisions with unique identifiers and references, exports, and the next import confirms", async () => {
    const { hr, target, exportRun, importTarget, exports } = await setup();
    // Dashboards hear about every planned and executed export (batched per system and run).
    const heard = new Set<string>();
    const events = services.bus.subscribe("pendingExports");
    void (async () => {
      for await (const e of events) for (const id of (e.ids as string[]) ?? [e.id]) heard.add(id);
    })();
    const sync = await hr.importAndSync();
    expect(sync.exportsQueued).toBe(3);
    const creates = await exports({ changeType: "CREATE" });
    expect(creates.map((e) => e.status)).toEqual(["PENDING", "PENDING", "PENDING"]);
    await new Promise((r) => setTimeout(r, 200));
    expect(creates.every((c) => heard.has(c.id))).toBe(true);
    const placeholders = await services.db.prisma.connectorSpaceObject.findMany({
      where: { status: "PENDING_PROVISIONING" },
      orderBy: { distinguishedName: "asc" },
    });
    expect(placeholders.map((p) => p.distinguishedName).sort()).toEqual(
      ["uid=ada,ou=R&D,dc=x", "uid=ada2,ou=R&D,dc=x", "uid=alan,ou=Ops,dc=x"].sort(),
    );

    const run = await exportRun();
    expect(run).toMatchObject({ created: 3, failed: 0 });
    expect(target.entries.size).toBe(3);
    // The manager reference waited for its target's DN, then went out in a second pass.
    const byron = [...target.entries.values()].find((e) => e.attributes.sn === "Byron");
    const lovelace = [...target.entries.values()].find((e) => e.attributes.sn === "Lovelace");
    expect(byron?.attributes.manager).toBe(lovelace?.dn);
    expect((await exports({ status: "EXPORTED" })).length).toBe(4);
    // Each EXPORTED run change keeps the changes sent, stored as tuples and read back as sent.
    const sent = await services.db.prisma.runChange.findMany({ where: { runId: run.id, changeType: "EXPORTED" } });
    expect(sent).toHaveLength(4);
    for (const change of sent) {
      expect((change.attributeChanges as { changes: unknown[] }).changes.every(Array.isArray)).toBe(true);
      const detail = expandAttributeChanges(change.attributeChanges, change) as { changes: Record<string, unknown>[] };
      expect(detail.changes.length).toBeGreaterThan(0);
      for (const c of detail.changes) expect(Object.keys(c).sort()).toEqual(["attribute", "operation", "values"]);
    }
    const byronSent = sent
      .map((c) => expandAttributeChanges(c.attributeChanges, c) as { changeType: string; dn: string; changes: unknown[] })
      .find((d) => d.changeType === "CREATE" && d.changes.some((c) => (c as { values: unknown[] }).values.includes("Byron")));
    expect(byronSent).toMatchObject({
      dn: byron?.dn,
      changes: expect.arrayContaining([{ attribute: "sn", operation: "ADD", values: ["Byron"] }]),
    });
    await new Promise((r) => setTimeout(r, 200));
    expect((await exports()).every((e) => heard.has(e.id))).toBe(true);
    await events.return?.();

    const confirm = await importTarget();
    expect(confirm.failed).toBe(0);
    expect((await exports({ status: "CONFIRMED" })).length).toBe(4);
    expect(await services.db.prisma.connectorSpaceObject.count({ where: { status: "PENDING_PROVISIONING" } })).toBe(0);
  });

  it("plans attribute-level updates and renames, never exports a value back to its source, and deprovisions leavers", async () => {
    const { hr, target, dirId, exportRun, importTarget, exports } = await setup();
    await hr.importAndSync();
    await exportRun();
    await importTarget();
    // What the import validated stays trusted until an export writes attributes no import checked.
    const trustedSchema = async () =>
      (await services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { id: dirId } })).validatedSchemaHash;
    expect(await trustedSchema()).not.toBeNull();
    // The directory contributes telephoneNumber; the outbound rule maps it back: loop prevention.
    await services.db.prisma.syncRule.create({
      data: {
        name: "dir-in",
        connectedSystemId: dirId,
        direction: "INBOUND",
        objectType: "person",
        metaverseObjectType: "person",
        precedence: 50,
        joinRules: [{ source: "uid", metaverseAttribute: "uid" }],
        attributeFlows: [{ target: "telephoneNumber", source: "phone" }],
      },
    });
    const out = await services.db.prisma.syncRule.findUniqueOrThrow({ where: { name: "dir-out" } });
    await services.db.prisma.syncRule.update({
      where: { name: "dir-out" },
      data: { attributeFlows: [...(out.attributeFlows as object[]), { target: "phone", source: "telephoneNumber" }] },
    });
    hr.connector.objects = [
      person("E1", { givenName: "Ada", sn: "King", department: "R&D" }),
      person("E2", { givenName: "Ada", sn: "Byron", department: "Sales", manager: "E1" }),
    ];
    const sync = await hr.importAndSync();
    expect(sync.exportsQueued).toBe(3);
    const updates = await exports({ changeType: "UPDATE", status: "PENDING" });
    const changesOf = (e: (typeof updates)[number]) => e.attributeChanges as any[];
    expect(updates.map(changesOf)).toContainEqual([
      { attribute: "sn", operation: "REPLACE", values: ["King"], status: "PENDING" },
    ]);
    const byron = await services.db.prisma.connectorSpaceObject.findFirstOrThrow({
      where: { connectedSystemId: dirId, attributes: { path: ["sn"], equals: "Byron" } },
    });
    const byronUid = (byron.attributes as any).uid;
    expect(updates.map(changesOf)).toContainEqual([
      { attribute: "ou", operation: "REPLACE", values: ["Sales"], status: "PENDING" },
      { attribute: "dn", operation: "REPLACE", values: [`uid=${byronUid},ou=Sales,dc=x`], status: "PENDING" },
    ]);
    const deletes = await exports({ changeType: "DELETE" });
    expect(deletes).toHaveLength(1);
    await exportRun();
    expect(await trustedSchema()).toBeNull();
    expect(target.byDn(`uid=${byronUid},ou=Sales,dc=x`)?.attributes.ou).toBe("Sales");
    expect(target.byDn("uid=alan,ou=Ops,dc=x")).toBeUndefined();

    // The directory now holds a phone number: it flows in, and is not exported back.
    for (const e of target.entries.values()) e.attributes.phone = "555";
    await importTarget();
    const dirSync = await runEngine(services, {
      systemId: dirId,
      profile: "FULL_SYNC",
      connector: target,
    });
    expect(dirSync.updated).toBe(2);
    expect(dirSync.exportsQueued).toBe(0);
    const after = await importTarget();
    expect(after.failed).toBe(0);
    expect((await exports({ changeType: "DELETE" }))[0]?.status).toBe("CONFIRMED");
  });

  it("retries failures with backoff, ends in ERROR after the limit, and keeps every export when the target is down", async () => {
    const { hr, target, exportRun, exports } = await setup({
      attributeFlows: [
        { target: "dn", expression: "'uid=' & $lowercase(sn) & ',dc=x'" },
        { target: "sn", source: "sn" },
      ],
    });
    await hr.importAndSync();
    target.down = true;
    await expect(exportRun()).rejects.toThrow(/unreachable/);
    expect((await exports()).map((e) => e.status)).toEqual(["PENDING", "PENDING", "PENDING"]);
    target.down = false;
    target.reject.set("uid=turing,dc=x", { code: "TIMEOUT", transient: true });
    target.reject.set("uid=byron,dc=x", { code: "SCHEMA_VIOLATION", transient: false });
    const run = await exportRun();
    expect(run).toMatchObject({ created: 1, failed: 2 });
    const failed = await exports({ status: "FAILED" });
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ errorCount: 1, lastErrorCode: "TIMEOUT" });
    expect(failed[0]?.nextRetryAt).not.toBeNull();
    expect((await exports({ status: "ERROR" }))[0]).toMatchObject({ lastErrorCode: "SCHEMA_VIOLATION", errorCount: 1 });
    await services.db.prisma.pendingExport.updateMany({
      where: { status: "FAILED" },
      data: { maxRetries: 2, nextRetryAt: new Date() },
    });
    await exportRun();
    expect((await exports({ lastErrorCode: "TIMEOUT" }))[0]).toMatchObject({ status: "ERROR", errorCount: 2 });
  });

  it("holds deletes over the threshold for approval, lets creates and deletes cancel out, and previews without changing anything", async () => {
    const { hr, target, exportRun, exports } = await setup({}, { deleteThreshold: 1 });
    // Dry run: planned exports are recorded as run changes only.
    await hr.run("FULL_IMPORT");
    const dry = await hr.run("FULL_SYNC", { dryRun: true });
    expect(await services.db.prisma.runChange.count({ where: { runId: dry.id, changeType: "EXPORT_PLANNED" } })).toBe(3);
    expect(await exports()).toHaveLength(0);

    await hr.run("FULL_SYNC");
    // E3 leaves before its create was exported: the create is cancelled, nothing is sent.
    hr.connector.objects = hr.connector.objects.filter((o) => o.anchor !== "E3");
    await hr.importAndSync();
    expect((await exports({ status: "CANCELLED" })).map((e) => e.changeType)).toEqual(["CREATE"]);
    await exportRun();
    expect(target.entries.size).toBe(2);
    expect(target.received.flat().filter((c) => c.changeType === "CREATE")).toHaveLength(2);

    hr.connector.objects = [];
    await hr.importAndSync();
    const held = await exports({ changeType: "DELETE" });
    expect(held.map((e) => e.status)).toEqual(["AWAITING_APPROVAL", "AWAITING_APPROVAL"]);
    expect(held[0]?.approvalReason).toMatch(/threshold/);
    await exportRun();
    expect(target.entries.size).toBe(2);
  });
});

describe("export previews, approvals for creates, and confirmation mismatches", () => {
  it("a dry-run export sends nothing; creates wait for approval when the rule says so; an import that disagrees flags the export", async () => {
    const { hr, target, exportRun, importTarget, exports } = await setup({ requireApprovalForCreate: true });
    await hr.importAndSync();
    expect((await exports()).map((e) => e.status)).toEqual(["AWAITING_APPROVAL", "AWAITING_APPROVAL", "AWAITING_APPROVAL"]);
    expect((await exportRun()).created).toBe(0);
    await services.pendingExports.approve({ ids: (await exports()).map((e) => e.id) }, "test");

    const preview = await exportRun(true);
    expect(target.received).toHaveLength(0);
    expect(await services.db.prisma.runChange.count({ where: { runId: preview.id, changeType: "WOULD_EXPORT" } })).toBe(3);
    expect((await exports()).every((e) => e.status === "PENDING")).toBe(true);

    await exportRun();
    // Someone edits the target behind our back before the confirming import.
    const edited = [...target.entries.values()].find((e) => e.attributes.sn === "Turing")!;
    edited.attributes.ou = "Elsewhere";
    await importTarget();
    const flagged = await exports({ lastErrorCode: "CONFIRMATION_MISMATCH" });
    expect(flagged).toHaveLength(1);
    expect(flagged[0]).toMatchObject({ status: "FAILED" });
    expect(flagged[0]?.lastError).toContain("ou");
    expect((await exports({ status: "CONFIRMED" })).length).toBeGreaterThanOrEqual(2);
  });
});
