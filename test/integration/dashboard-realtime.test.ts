import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultExecutors } from "../../src/jobs/executors.ts";
import { startWorker, type WorkerHandle } from "../../src/jobs/worker.ts";
import { CREATE_RULE, CREATE_SYSTEM, ok, REFRESH, rawId } from "../e2e/helpers.ts";
import { FAST_RUN_OPTIONS } from "../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../helpers/app.ts";
import { type Browser, launchChromium } from "../helpers/browser.ts";
import { closeTestServices, createTestServices } from "../helpers/services.ts";

// The dashboard's real-time strip follows a system's inbox live: pushes wait while no worker
// runs, and are gone once one does. Real Chromium, real API, a real worker.
let app: TestApp;
let browser: Browser;
let worker: WorkerHandle | undefined;
const dir = mkdtempSync(path.join(tmpdir(), "metasync-dashboard-realtime-"));
const text = (selector: string) => `(document.querySelector(${JSON.stringify(selector)})?.textContent ?? "")`;

beforeAll(async () => {
  [app, browser] = await Promise.all([
    createTestServices({}, { runOptions: FAST_RUN_OPTIONS }).then(startTestApp),
    launchChromium(),
  ]);
});
afterAll(async () => {
  await worker?.stop();
  await browser?.close();
  await app?.stop();
  if (app) await closeTestServices(app.services);
  rmSync(dir, { recursive: true, force: true });
});

describe("dashboard: real-time strip", () => {
  it("shows pushes waiting in a system's inbox, live, and all applied once a worker runs", async () => {
    const hrFile = path.join(dir, "hr.csv");
    writeFileSync(hrFile, "employeeId,givenName\n");
    const hr = rawId(
      (
        await ok(app, CREATE_SYSTEM, {
          i: { name: "hr", kind: "CSV", config: { path: hrFile, anchor: "employeeId" }, realtime: { enabled: true } },
        })
      ).createConnectedSystem.id,
    );
    await ok(app, REFRESH, { id: hr });
    await ok(app, CREATE_RULE, {
      i: {
        name: "hr-in",
        connectedSystemId: hr,
        direction: "INBOUND",
        objectType: "person",
        metaverseObjectType: "person",
        projectToMetaverse: true,
        joinRules: [{ source: "employeeId", metaverseAttribute: "employeeId" }],
        attributeFlows: ["employeeId", "givenName"].map((a) => ({ target: a, source: a })),
      },
    });

    const page = await browser.newPage();
    await page.goto(`${app.url}/`);
    const box = `#realtime-flow .flow[data-system-name="hr"]`;
    await page.waitFor(`${text(box)}.includes("all applied")`, "the strip with an empty inbox");

    // No worker yet: three pushed records wait, and the strip says so without a reload.
    const records = ["E1", "E2", "E3"].map((id) => ({
      op: "upsert",
      objectType: "person",
      anchor: id,
      attributes: { employeeId: id, givenName: `Given ${id}` },
    }));
    const res = await fetch(`${app.url}/hooks/hr`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ records }),
    });
    expect(res.status).toBe(202);
    await page.waitFor(`document.querySelector(${JSON.stringify(box)})?.dataset.depth === "3"`, "3 waiting");
    expect(await page.evaluate(`${text(box)}`)).toContain("oldest");

    worker = await startWorker({ services: app.services, executors: defaultExecutors, scheduler: false });
    await page.waitFor(`document.querySelector(${JSON.stringify(box)})?.dataset.depth === "0"`, "all applied after the run");
    expect(await app.services.db.prisma.connectorSpaceObject.count({ where: { connectedSystemId: hr } })).toBe(3);
    expect(page.problems).toEqual([]);
  });
});
