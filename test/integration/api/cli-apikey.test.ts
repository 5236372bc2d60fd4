import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { apikeyCommand } from "../../../src/cli/apikey.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { runCli } from "../../helpers/cli.ts";

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.stop());

describe("metasync apikey", () => {
  it("creates a key shown once, lists it, revokes it; the server follows at once", async () => {
    const env = { DATABASE_URL: app.services.db.url, LOG_LEVEL: "warn", DATA_DIR: mkdtempSync(path.join(tmpdir(), "ms-")) };
    const create = runCli(["apikey", "create", "--role", "operator", "--name", "ci"], env);
    expect(await create.exit).toBe(0);
    const key = create.output().match(/^(msk_\S+)$/m)?.[1];
    expect(key).toBeDefined();
    expect(create.output()).toContain('created operator key "ci"');

    // The first key ends keyless loopback access.
    expect((await app.gql("{ health { status } }")).status).toBe(401);
    const approved = await app.gql(`mutation { retryPendingExports(ids: []) { id } }`, undefined, {
      authorization: `Bearer ${key}`,
    });
    expect(approved.errors).toBeUndefined();

    // list and revoke in-process: one CLI start per test file keeps it fast.
    const list = await inProcess(["list"]);
    expect(list.code).toBe(0);
    const row = list.out.split("\n").find((l) => l.includes("\tci"));
    expect(row).toMatch(/\toperator\tmsk_\S{8}\tactive\tci$/);
    expect(list.out).not.toContain(key);

    const id = row!.split("\t")[0]!;
    expect((await inProcess(["revoke", id])).code).toBe(0);
    const refused = await app.gql("{ health { status } }", undefined, { authorization: `Bearer ${key}` });
    expect(refused.status).toBe(401);
    expect(refused.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });

  it("refuses an unknown role and an unknown id with exit codes 2 and 3", async () => {
    const role = await inProcess(["create", "--role", "root"]);
    expect(role.code).toBe(2);
    expect(role.out).toContain("role must be one of reader, operator, admin");
    expect((await inProcess(["revoke", "00000000-0000-4000-8000-000000000000"])).code).toBe(3);
  });
});

/** apikeyCommand in-process, its console output captured. */
async function inProcess(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...a) => void lines.push(a.join(" ")));
  const err = vi.spyOn(console, "error").mockImplementation((...a) => void lines.push(a.join(" ")));
  try {
    return { code: await apikeyCommand(app.services, args), out: lines.join("\n") };
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}
