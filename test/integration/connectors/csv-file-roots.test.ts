import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnector } from "../../../src/connectors/index.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { createTestServices } from "../../helpers/services.ts";

// Everything here lives in a temp dir; only `root` inside it is a configured file root.
const base = mkdtempSync(path.join(tmpdir(), "metasync-file-roots-"));
const root = path.join(base, "files");
const outside = path.join(base, "outside");
mkdirSync(root);
mkdirSync(outside);
writeFileSync(path.join(outside, "secret.csv"), "id,password\n1,hunter2\n");

const CREATE = `mutation ($input: ConnectedSystemInput!) { createConnectedSystem(input: $input) { id } }`;
const TEST = `mutation ($id: ID!) { testConnection(id: $id) { ok message code } }`;
const REFRESH = `mutation ($id: ID!) { refreshSchema(id: $id) { id } }`;
let app: TestApp;
let systems = 0;
const createCsv = (filePath: string) =>
  app.gql(CREATE, { input: { name: `csv-${++systems}`, kind: "CSV", config: { path: filePath, anchor: "id" } } });

beforeAll(async () => {
  app = await startTestApp(await createTestServices({ fileRoots: [root] }));
});
afterAll(async () => {
  await app?.stop();
  rmSync(base, { recursive: true, force: true });
});

describe("CSV files confined to METASYNC_FILE_ROOTS", () => {
  it("refuses, when a system is saved, a path that leads outside the roots, naming the roots", async () => {
    writeFileSync(path.join(root, "hr.csv"), "id,name\n1,Ann\n");
    symlinkSync("/etc/passwd", path.join(root, "passwd.csv"));
    mkdirSync(path.join(root, "sub"));
    symlinkSync(outside, path.join(root, "sub", "escape"));
    const refused = [
      "/etc/shadow",
      path.join(root, "..", "outside", "secret.csv"),
      path.join(root, "passwd.csv"),
      // The symlinked folder then "..": the kernel goes to outside's parent, not root/sub.
      path.join(root, "sub", "escape", "secret.csv"),
      `${root}/sub/escape/../outside/secret.csv`,
      path.join(root, "sub", "escape", "new.csv"),
      root,
    ];
    for (const p of refused) {
      const r = await createCsv(p);
      expect(r.errors?.[0]?.extensions?.code, p).toBe("BAD_USER_INPUT");
      expect(r.errors?.[0]?.message, p).toContain(root);
      expect(r.errors?.[0]?.extensions?.path, p).toBe("config.path");
    }
    // Inside the roots: an existing file, and a target not written yet.
    expect((await createCsv(path.join(root, "hr.csv"))).errors).toBeUndefined();
    expect((await createCsv(path.join(root, "sub", "later.csv"))).errors).toBeUndefined();
  });

  it("refuses a FIFO when saved, and one put in place later without blocking on it", async () => {
    const fifo = path.join(root, "pipe.csv");
    execFileSync("mkfifo", [fifo]);
    const saved = await createCsv(fifo);
    expect(saved.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(saved.errors?.[0]?.message).toMatch(/not a regular file/);
    unlinkSync(fifo);

    writeFileSync(fifo, "id,name\n1,Ann\n");
    const { id } = (await createCsv(fifo)).data.createConnectedSystem;
    unlinkSync(fifo);
    execFileSync("mkfifo", [fifo]);
    const test = await app.gql(TEST, { id });
    expect(test.data.testConnection).toMatchObject({ ok: false, code: "BAD_USER_INPUT" });
    expect(test.data.testConnection.message).toMatch(/not a regular file/);
  });

  it("checks the path again at run time: a symlink swapped in after saving is refused", async () => {
    const file = path.join(root, "swap.csv");
    writeFileSync(file, "id,name\n1,Ann\n");
    const { id } = (await createCsv(file)).data.createConnectedSystem;
    expect((await app.gql(TEST, { id })).data.testConnection.ok).toBe(true);

    unlinkSync(file);
    symlinkSync(path.join(outside, "secret.csv"), file);
    const test = await app.gql(TEST, { id });
    expect(test.data.testConnection).toMatchObject({ ok: false, code: "BAD_USER_INPUT" });
    expect(test.data.testConnection.message).toContain(root);
    const refresh = await app.gql(REFRESH, { id });
    expect(refresh.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(JSON.stringify(refresh)).not.toContain("hunter2");
  });

  it("an export never writes outside the roots", async () => {
    const target = path.join(outside, "written.csv");
    const csv = await createConnector(
      "CSV",
      { path: target, anchor: "id" },
      { logger: pino({ level: "silent" }), fileRoots: [root] },
    );
    const results = await csv.export([
      {
        id: "c1",
        changeType: "CREATE",
        objectType: "person",
        anchor: "1",
        attributes: [{ attribute: "name", operation: "REPLACE", values: ["Ann"] }],
      },
    ]);
    await csv.close();
    expect(results).toEqual([expect.objectContaining({ id: "c1", status: "PERMANENT_FAILURE", code: "BAD_USER_INPUT" })]);
    expect(existsSync(target)).toBe(false);
  });
});
