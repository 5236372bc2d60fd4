import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../helpers/app.ts";
import { type Browser, launchChromium } from "../helpers/browser.ts";
import { type ExampleHarness, startExample } from "../helpers/examples.ts";

// The dashboard's run chart, a run that explains why it changed nothing, and an object page that
// explains each value and each target's provisioning decision, in a real headless Chromium over
// real runs (the HR file of examples/hr to a CSV phone book scoped to Engineering).
let h: ExampleHarness;
let app: TestApp;
let browser: Browser;

const apply = `connectedSystems:
  - name: hr
    kind: CSV
    config:
      path: \${HR_DIR}/people.csv
      anchor: employeeId
      objectType: person
  - name: phonebook
    kind: CSV
    # One leaver of three is more than the default protection's 5%: allow a few deletes.
    breaker: { maxDeletes: 20 }
    config:
      path: \${HR_DIR}/phonebook.csv
      anchor: employeeId
      objectType: entry
syncRules:
  - name: hr-in
    connectedSystem: hr
    direction: INBOUND
    objectType: person
    metaverseObjectType: person
    projectToMetaverse: true
    joinRules: [{ source: employeeId, metaverseAttribute: employeeId }]
    attributeFlows:
      - { target: employeeId, source: employeeId }
      - { target: givenName, source: givenName }
      - { target: sn, source: sn }
      - { target: department, source: department }
  - name: phonebook-out
    connectedSystem: phonebook
    direction: OUTBOUND
    objectType: entry
    metaverseObjectType: person
    provisionToConnector: true
    deprovision: DELETE
    scope: department = 'Engineering'
    attributeFlows:
      - { target: employeeId, source: employeeId }
      - { target: name, expression: "givenName & ' ' & sn" }
`;

beforeAll(async () => {
  h = await startExample("hr");
  [app, browser] = await Promise.all([startTestApp(h.services), launchChromium()]);
});
afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await h?.stop();
});

const rawId = (id: string) => Buffer.from(id, "base64").toString().split(":")[1];
const mvoIdOf = async (employeeId: string) => {
  const res = await app.gql(
    `query($v: String!) { metaverseObjects(where: { attribute: "employeeId", equals: $v }) { edges { node { id } } } }`,
    {
      v: employeeId,
    },
  );
  return res.data.metaverseObjects.edges[0].node.id as string;
};

describe("dashboard: run chart and explanations", () => {
  it("draws finished runs, explains an export with nothing to do, and explains an object's values and provisioning", async () => {
    const file = path.join(h.files, "apply.yaml");
    writeFileSync(file, apply);
    await h.cli(["apply", file], { HR_DIR: h.files });
    await h.cli(["systems", "discover", "hr", "phonebook"], { HR_DIR: h.files });
    await h.run("hr", "FULL_IMPORT");
    await h.run("hr", "FULL_SYNC");
    expect(await h.run("phonebook", "EXPORT")).toMatchObject({ created: 3 });
    const idle = await h.run("phonebook", "EXPORT");
    const finished = await h.services.db.prisma.run.findMany({ select: { id: true, fetched: true } });
    expect(finished).toHaveLength(4);

    const page = await browser.newPage();
    await page.goto(`${app.url}/`);
    // One dot and one bar per finished run, carrying the run's objects and duration.
    await page.waitFor(`document.querySelectorAll("#run-chart circle[data-run-id]").length === 4`, "four runs in the chart");
    const dots = await page.evaluate<{ id: string; objects: number; seconds: number }[]>(
      `[...document.querySelectorAll("#run-chart circle[data-run-id]")].map((c) => ({ id: c.dataset.runId, objects: Number(c.dataset.objects), seconds: Number(c.dataset.seconds) }))`,
    );
    expect(dots.map((d) => rawId(d.id)).sort()).toEqual(finished.map((r) => r.id).sort());
    expect(dots.find((d) => rawId(d.id) === finished.find((r) => r.fetched === 5)?.id)?.objects).toBe(5);
    expect(dots.every((d) => d.seconds > 0)).toBe(true);
    expect(await page.evaluate<number>(`document.querySelectorAll("#run-chart rect[data-run-id]").length`)).toBe(4);

    // A newly finished run joins the chart by itself (runsChanged).
    await h.run("hr", "FULL_IMPORT");
    await page.waitFor(`document.querySelectorAll("#run-chart circle[data-run-id]").length === 5`, "the fifth run in the chart");

    // The export that had nothing to do says why on its page.
    await page.goto(`${app.url}/#/runs/${idle.id}`);
    const why = await page.waitFor<string>(
      `document.querySelector("#run-explanation [data-code]")?.textContent`,
      "the explanation",
    );
    expect(why).toContain("UP_TO_DATE");
    expect(why).toContain("Nothing was pending for phonebook");

    // Ada (Engineering) is in the phone book's scope and provisioned; Katherine (Finance) is not.
    await page.goto(`${app.url}/#/objects/${encodeURIComponent(await mvoIdOf("E1001"))}`);
    const ada = await page.waitFor<{ state: string; inScope: string; text: string }>(
      `(() => { const r = document.querySelector('#provisioning tr[data-rule="phonebook-out"]'); return r && { state: r.dataset.state, inScope: r.dataset.inScope, text: r.innerText }; })()`,
      "Ada's provisioning row",
    );
    expect(ada).toMatchObject({ state: "PROVISIONED", inScope: "true" });
    expect(ada.text).toContain(`The scope of rule "phonebook-out" (department = 'Engineering') is true for this identity.`);
    const sn = await page.evaluate<string>(`document.querySelector('tr[data-attribute="sn"]').innerText`);
    expect(sn).toContain("Lovelace");
    expect(sn).toMatch(/hr · rule hr-in · full sync run/);

    await page.goto(`${app.url}/#/objects/${encodeURIComponent(await mvoIdOf("E1004"))}`);
    // Only once Katherine's page is drawn: until then the rows on screen are still Ada's (a hash
    // change re-renders in place; reading at once once gave Ada's PROVISIONED row).
    const katherine = await page.waitFor<{ state: string; inScope: string; text: string }>(
      `(() => { const r = document.querySelector('#provisioning tr[data-rule="phonebook-out"]'); const sn = document.querySelector('tr[data-attribute="sn"]'); return r && sn?.innerText.includes("Johnson") && { state: r.dataset.state, inScope: r.dataset.inScope, text: r.innerText }; })()`,
      "Katherine's provisioning row",
    );
    expect(katherine).toMatchObject({ state: "OUT_OF_SCOPE", inScope: "false" });
    expect(katherine.text).toContain("is false for this identity. Nothing is provisioned to phonebook by it.");
    expect(page.problems).toEqual([]);
  });
  it("explains a planned CREATE and a DELETE planned after the identity left the scope (GraphQL)", async () => {
    const csv = path.join(h.files, "people.csv");
    const rows = readFileSync(csv, "utf8").trimEnd().split("\n");
    // Ada moves to Finance (out of the phone book's scope); Mary joins Engineering.
    writeFileSync(
      csv,
      [
        ...rows.map((l) => (l.startsWith("E1001,") ? l.replace(",Engineering,", ",Finance,") : l)),
        "E1006,Mary,Jackson,Engineer,Engineering,E1001,mary.jackson@example.org",
      ].join("\n"),
    );
    await h.run("hr", "FULL_IMPORT");
    await h.run("hr", "DELTA_SYNC");
    const decision = async (employeeId: string) => {
      const res = await app.gql(
        `query($id: ID!) { metaverseObject(id: $id) { explain { values { attribute systemName ruleName runProfile } provisioning { ruleName inScope state reason openExports { changeType status } } } } }`,
        { id: await mvoIdOf(employeeId) },
      );
      expect(res.errors).toBeUndefined();
      return res.data.metaverseObject.explain;
    };
    const mary = await decision("E1006");
    expect(mary.provisioning).toEqual([
      expect.objectContaining({
        ruleName: "phonebook-out",
        inScope: true,
        state: "CREATE_PENDING",
        openExports: [{ changeType: "CREATE", status: "PENDING" }],
      }),
    ]);
    expect(mary.values).toContainEqual({ attribute: "givenName", systemName: "hr", ruleName: "hr-in", runProfile: "DELTA_SYNC" });
    const ada = await decision("E1001");
    expect(ada.provisioning[0]).toMatchObject({
      inScope: false,
      state: "LEFT_SCOPE",
      openExports: [{ changeType: "DELETE", status: "PENDING" }],
    });
    expect(ada.provisioning[0].reason).toContain("The rule's deprovision action (DELETE) is planned for its object in phonebook");
  });

  it("shows a long list's change as the values added and removed, and a short one as before -> after", async () => {
    const page = await browser.newPage();
    await page.goto(`${app.url}/`);
    const text = await page.evaluate<string>(`import("/dashboard/run-detail.js").then(({ summariseChanges }) => {
      const box = document.createElement("div");
      box.append(...summariseChanges([
        { attribute: "members", added: ["x1", "x2", "x3", "x4", "x5", "x6", "x7"], removed: ["m3"] },
        { attribute: "sn", before: "Lovelace", after: "King" },
      ]));
      return box.innerText;
    })`);
    expect(text).toContain("members: +7 (x1, x2, x3, x4, x5, … 2 more) −1 (m3)");
    expect(text).toContain("sn: Lovelace → King");
  });
});
