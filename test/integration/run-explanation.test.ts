import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../helpers/app.ts";
import { BIN } from "../helpers/cli.ts";
import { type ExampleHarness, startExample } from "../helpers/examples.ts";

// A run that COMPLETED with nothing to do says why: the CLI (`run --wait`, piped and on a real
// terminal), `metasync runs` and GraphQL Run.explanation give the same reason, from real runs.
let h: ExampleHarness;
let app: TestApp;

const system = `connectedSystems:
  - name: hr
    kind: CSV
    config:
      path: \${HR_DIR}/people.csv
      anchor: employeeId
      objectType: person
  - name: phonebook
    kind: CSV
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
`;
const outbound = `  - name: phonebook-out
    connectedSystem: phonebook
    direction: OUTBOUND
    objectType: entry
    metaverseObjectType: person
    provisionToConnector: true
    attributeFlows:
      - { target: employeeId, source: employeeId }
      - { target: name, expression: "givenName & ' ' & sn" }
`;

const lateSystemYaml = `connectedSystems:
  - name: hr-late
    kind: CSV
    config:
      path: \${HR_DIR}/people.csv
      anchor: employeeId
      objectType: person
syncRules:
  - name: hr-late-in
    connectedSystem: hr-late
    direction: INBOUND
    objectType: person
    metaverseObjectType: person
    attributeFlows: [{ target: givenName, source: givenName }]
`;

beforeAll(async () => {
  h = await startExample("hr");
  app = await startTestApp(h.services);
});
afterAll(async () => {
  await app?.stop();
  await h?.stop();
});

/** `metasync <args>` on a pseudo-terminal (util-linux `script`): stdout.isTTY is true, as in a shell. */
function onTty(args: string[]): Promise<{ code: number; output: string }> {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(" ");
  const env = { ...process.env, DATABASE_URL: h.services.db.url, DATA_DIR: h.files, LOG_LEVEL: "warn", COLUMNS: "200" };
  return new Promise((resolve) => {
    const child = spawn("script", ["-q", "-e", "-c", command, "/dev/null"], { env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => void (output += d));
    child.on("exit", (code) => resolve({ code: code ?? 1, output: output.replaceAll("\r\n", "\n") }));
  });
}

const explanation = async (runId: string) => {
  const id = Buffer.from(`Run:${runId}`).toString("base64");
  const res = await app.gql(
    `query($id: ID!) { node(id: $id) { ... on Run { status explanation { code message nextSteps } } } }`,
    {
      id,
    },
  );
  expect(res.errors).toBeUndefined();
  return res.data.node.explanation;
};

describe("explanations of runs that changed nothing", () => {
  it("an unchanged sync, an export after a rule was added, then an export with nothing pending", async () => {
    const file = path.join(h.files, "demo.yaml");
    writeFileSync(file, system);
    const env = { HR_DIR: h.files };
    await h.cli(["apply", file], env);
    await h.cli(["systems", "discover", "hr"], env);
    await h.run("hr", "FULL_IMPORT");
    const projected = await h.run("hr", "FULL_SYNC");
    expect(projected.created).toBe(5);

    const again = await h.run("hr", "FULL_SYNC");
    expect(again).toMatchObject({ created: 0, updated: 0, exportsQueued: 0 });
    expect(await explanation(again.id)).toMatchObject({ code: "ALL_UNCHANGED" });
    expect(await explanation(projected.id)).toBeNull();

    // The outbound rule arrives after the last sync: the export has nothing, and says why.
    writeFileSync(file, system + outbound);
    await h.cli(["apply", file], env);
    await h.cli(["systems", "discover", "phonebook"], env);
    const piped = await h.cli(["run", "phonebook", "export", "--wait"], env);
    expect(piped).toMatch(/COMPLETED: fetched 0, created 0/);
    expect(piped).toContain('why: RULE_CHANGED_SINCE_SYNC: Rule "phonebook-out" changed at');
    expect(piped).toContain("next: Plan its exports with a full sync: `metasync run hr full_sync --wait`, then export again");
    const exportRun = await h.services.db.prisma.run.findFirstOrThrow({
      where: { profile: "EXPORT" },
      orderBy: { createdAt: "desc" },
    });
    expect(await explanation(exportRun.id)).toMatchObject({
      code: "RULE_CHANGED_SINCE_SYNC",
      nextSteps: ["Plan its exports with a full sync: `metasync run hr full_sync --wait`, then export again"],
    });
    // Following the advice exports everyone (the sync runs while `runs` lists phonebook's runs: it
    // starts none of them); the export after that has nothing pending.
    const [runs, resynced] = await Promise.all([
      h.cli(["runs", "--system", "phonebook", "--json"], env),
      h.run("hr", "FULL_SYNC"),
    ]);
    expect(JSON.parse(runs)[0].explanation).toMatchObject({ code: "RULE_CHANGED_SINCE_SYNC" });
    expect(resynced).toMatchObject({ exportsQueued: 5 });
    expect(await h.run("phonebook", "EXPORT")).toMatchObject({ created: 5 });
    const tty = await onTty(["run", "phonebook", "export", "--wait"]);
    expect(tty.code).toBe(0);
    expect(tty.output).toContain("why: UP_TO_DATE: Nothing was pending for phonebook");
    const table = await onTty(["runs", "--system", "phonebook"]);
    expect(table.output).toMatch(/EXPORT\s+COMPLETED .*UP_TO_DATE: Nothing was pending/);
  });
  it("a delta sync after a rule change, an export held for approval, a sync before any import", async () => {
    const file = path.join(h.files, "demo.yaml");
    const late = path.join(h.files, "late.yaml");
    const env = { HR_DIR: h.files };
    // hr-in gains a flow: a delta sync sees no changed object, and says a full sync applies the rule.
    writeFileSync(
      file,
      system.replace(
        "      - { target: sn, source: sn }\n",
        "      - { target: sn, source: sn }\n      - { target: title, source: title }\n",
      ) + outbound,
    );
    expect(await h.cli(["apply", file], env)).toContain("sync rule hr-in: updated");
    const delta = await h.run("hr", "DELTA_SYNC");
    expect(await explanation(delta.id)).toMatchObject({
      code: "RULE_CHANGED_SINCE_FULL_SYNC",
      nextSteps: ["Apply the rule to every object with a full sync: `metasync run hr full_sync --wait`"],
    });

    // A system added by a second file, applied and discovered (two CLI processes) while the
    // phonebook's export is held: neither touches the other's system.
    const lateSystem = (async () => {
      writeFileSync(late, lateSystemYaml);
      await h.cli(["apply", late], env);
      await h.cli(["systems", "discover", "hr-late"], env);
    })();
    lateSystem.catch(() => {});
    const phonebook = await h.services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { name: "phonebook" } });
    await h.services.db.prisma.pendingExport.create({
      data: {
        connectedSystemId: phonebook.id,
        changeType: "CREATE",
        status: "AWAITING_APPROVAL",
        approvalReason: "held for review",
      },
    });
    const held = await h.run("phonebook", "EXPORT");
    expect(await explanation(held.id)).toMatchObject({ code: "HELD_FOR_APPROVAL" });
    expect((await explanation(held.id)).message).toMatch(/^1 export\(s\) to phonebook wait for approval/);

    await lateSystem;
    const early = await h.run("hr-late", "FULL_SYNC");
    expect(await explanation(early.id)).toMatchObject({
      code: "NOT_IMPORTED",
      nextSteps: ["Import it first: `metasync run hr-late full_import --wait`"],
    });
  });
});
