import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultExecutors } from "../../src/jobs/executors.ts";
import { startWorker, type WorkerHandle } from "../../src/jobs/worker.ts";
import { CREATE_RULE, CREATE_SYSTEM, ok, REFRESH, rawId, runToEnd } from "../e2e/helpers.ts";
import { FAST_RUN_OPTIONS } from "../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../helpers/app.ts";
import { type Browser, launchChromium } from "../helpers/browser.ts";
import { closeTestServices, createTestServices } from "../helpers/services.ts";

// The dashboard shows each system's breaker limits and the open holds with their figures, and an
// operator releases a held run's creates from it: real Chromium, real API, a real worker.
let app: TestApp;
let browser: Browser;
let worker: WorkerHandle | undefined;
const dir = mkdtempSync(path.join(tmpdir(), "metasync-dashboard-breaker-"));
const shots = process.env.DASHBOARD_SCREENSHOTS;
const text = (selector: string) => `(document.querySelector(${JSON.stringify(selector)})?.textContent ?? "")`;

beforeAll(async () => {
  [app, browser] = await Promise.all([
    createTestServices({}, { runOptions: FAST_RUN_OPTIONS }).then(startTestApp),
    launchChromium(),
  ]);
  worker = await startWorker({ services: app.services, executors: defaultExecutors, scheduler: false });
});
afterAll(async () => {
  await worker?.stop();
  await browser?.close();
  await app?.stop();
  if (app) await closeTestServices(app.services);
  rmSync(dir, { recursive: true, force: true });
});

describe("dashboard: mass-change breaker", () => {
  it("shows the limits per system and the held run with its reason; Release with 'creates' sends the run's creates on", async () => {
    const hrFile = path.join(dir, "hr.csv");
    writeFileSync(hrFile, "employeeId,givenName\nE1,Ada\nE2,Alan\nE3,Grace\n");
    mkdirSync(path.join(dir, "out"));
    const create = async (i: Record<string, unknown>) => rawId((await ok(app, CREATE_SYSTEM, { i })).createConnectedSystem.id);
    const hr = await create({ name: "hr", kind: "CSV", config: { path: hrFile, anchor: "employeeId" } });
    await ok(app, REFRESH, { id: hr });
    const accounts = await create({
      name: "accounts",
      kind: "CSV",
      config: { path: path.join(dir, "out", "accounts.csv"), anchor: "id", columns: ["id", "displayName"] },
      breaker: { maxCreates: 1 },
    });
    const rule = (i: Record<string, unknown>) =>
      ok(app, CREATE_RULE, { i: { objectType: "person", metaverseObjectType: "person", ...i } });
    await rule({
      name: "hr-in",
      connectedSystemId: hr,
      direction: "INBOUND",
      projectToMetaverse: true,
      joinRules: [{ source: "employeeId", metaverseAttribute: "employeeId" }],
      attributeFlows: ["employeeId", "givenName"].map((a) => ({ target: a, source: a })),
    });
    await rule({
      name: "accounts-out",
      connectedSystemId: accounts,
      direction: "OUTBOUND",
      provisionToConnector: true,
      attributeFlows: [
        { target: "id", source: "employeeId" },
        { target: "displayName", source: "givenName" },
      ],
    });
    await runToEnd(app, hr, "FULL_IMPORT", { expect: "COMPLETED" });
    const sync = await runToEnd(app, hr, "FULL_SYNC", { expect: "COMPLETED" });

    const page = await browser.newPage();
    await page.goto(`${app.url}/`);
    await page.waitFor(`document.querySelector('#systems tr[data-system-name="accounts"] .breaker')`, "the systems table");
    expect(await page.evaluate(`${text('#systems tr[data-system-name="accounts"] .breaker')}`)).toBe(
      "breaker: holds creates > 1, deletes > 500 or 5%",
    );
    expect(await page.evaluate(`${text('#systems tr[data-system-name="hr"] .breaker')}`)).toBe(
      "default breaker: holds deletes > 500 or 5%",
    );

    await page.goto(`${app.url}/#/exports`);
    await page.waitFor(`${text("#breaker-holds")}.includes("3 creates > maxCreates 1")`, "the hold and its reason");
    if (shots) await page.screenshot(path.join(shots, "breaker-holds.png"));
    const row = await page.evaluate<string>(`${text("#breaker-holds tbody tr")}`);
    expect(row).toContain("accounts");
    expect(row).toContain("full sync of hr");
    expect(row).toContain("3 of 3");

    await page.evaluate(`(() => {
      const row = document.querySelector("#breaker-holds tbody tr");
      row.querySelector("select").value = "CREATE";
      [...row.querySelectorAll("button")].find((b) => b.textContent === "Release").click();
    })()`);
    await page.waitFor(`${text("#breaker-holds")}.includes("3 held creates released")`, "the release message");
    await page.waitFor(`${text("#breaker-holds")}.includes("No run is held")`, "no open hold left");
    const statuses = await app.services.db.prisma.pendingExport.groupBy({
      by: ["status"],
      where: { planningRunId: sync.id },
      _count: true,
    });
    expect(statuses).toEqual([{ status: "PENDING", _count: 3 }]);

    // The run's page says it was held, with the figures.
    await page.goto(`${app.url}/#/runs/${encodeURIComponent(sync.id)}`);
    await page.waitFor(`${text("#run-holds")}.includes("Held for accounts")`, "the hold on the run's page");
    expect(await page.evaluate(`${text("#run-holds")}`)).toContain("0 of 3 still waiting");
    expect(page.problems).toEqual([]);
  });
});
