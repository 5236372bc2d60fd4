import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnector } from "../../../src/connectors/index.ts";
import type { Services } from "../../../src/services.ts";
import { runEngine } from "../../helpers/engine-run.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

const dir = mkdtempSync(path.join(tmpdir(), "metasync-csv-nul-"));
let services: Services;
beforeAll(async () => {
  services = await createTestServices();
});
afterAll(async () => {
  await closeTestServices(services);
  rmSync(dir, { recursive: true, force: true });
});

describe("CSV import: a NUL byte in a cell", () => {
  it("is a located error of that row (line and column); the other rows import", async () => {
    const file = path.join(dir, "people.csv");
    writeFileSync(file, "id,name,mail\n1,Ann,ann@x\n2,B\u0000b,bob@x\n3,Cy,cy@x\n");
    const system = await services.systems.create({ name: "nul", kind: "CSV", config: { path: file, anchor: "id" } });
    const connector = await createConnector("CSV", { path: file, anchor: "id" }, { logger: services.logger });
    const run = await runEngine(services, { systemId: system.id, profile: "FULL_IMPORT", connector });
    expect(run).toMatchObject({ status: "COMPLETED", created: 2, failed: 1 });
    const { rows } = await services.db.pool.query(
      "SELECT anchor FROM connector_space_object WHERE connected_system_id = $1 ORDER BY anchor",
      [system.id],
    );
    expect(rows.map((r) => r.anchor)).toEqual(["1", "3"]);
    const errors = await services.db.prisma.runChange.findMany({ where: { runId: run.id, changeType: "RECORD_ERROR" } });
    expect(errors.map((e) => `${e.location}: ${e.message}`)).toEqual(['people.csv:3: column "name" contains a NUL character']);
  });
});
