import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { applyCommand } from "../../../src/cli/apply.ts";
import type { Services } from "../../../src/services.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

let services: Services;
const dir = mkdtempSync(path.join(tmpdir(), "metasync-apply-alerts-"));
beforeAll(async () => {
  services = await createTestServices();
});
afterAll(() => closeTestServices(services));

async function apply(doc: string, env: Record<string, string> = {}) {
  const file = path.join(dir, `doc-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, doc);
  const lines: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...a) => void lines.push(a.join(" ")));
  const err = vi.spyOn(console, "error").mockImplementation((...a) => void lines.push(a.join(" ")));
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    return { code: await applyCommand(services, [file]), out: lines.join("\n") };
  } finally {
    process.env = saved;
    log.mockRestore();
    err.mockRestore();
  }
}

const doc = (events: string, url = "https://hooks.example.org/metasync") => `
alertEndpoints:
  - name: ops
    url: ${url}
    secret: \${ALERT_SECRET}
    events: ${events}
`;

describe("alertEndpoints in apply documents", () => {
  it("creates, leaves unchanged, then updates an endpoint by name, the secret from the environment", async () => {
    const env = { ALERT_SECRET: "from-the-environment-0123" };
    expect(await apply(doc("[RUN_FAILED, EXPORT_ERROR]"), env)).toMatchObject({
      code: 0,
      out: expect.stringContaining("alert endpoint ops: created"),
    });
    const created = await services.db.prisma.alertEndpoint.findUniqueOrThrow({ where: { name: "ops" } });
    expect(created.events).toEqual(["RUN_FAILED", "EXPORT_ERROR"]);
    expect(services.secrets.open(created.secret)).toEqual({ secret: env.ALERT_SECRET });

    expect((await apply(doc("[EXPORT_ERROR, RUN_FAILED]"), env)).out).toContain("alert endpoint ops: unchanged");
    const rotated = await apply(doc("[EXPORT_ERROR, RUN_FAILED]"), { ALERT_SECRET: "a-new-secret-0123456789" });
    expect(rotated.out).toContain("alert endpoint ops: updated");
    const after = await services.db.prisma.alertEndpoint.findUniqueOrThrow({ where: { name: "ops" } });
    expect(services.secrets.open(after.secret)).toEqual({ secret: "a-new-secret-0123456789" });
    expect(after.id).toBe(created.id);
  });

  it("refuses a non-http scheme and an unknown event, naming the entry", async () => {
    const scheme = await apply(doc("[RUN_FAILED]", "file:///etc/passwd"), { ALERT_SECRET: "from-the-environment-0123" });
    expect(scheme.code).toBe(2);
    expect(scheme.out).toMatch(/alertEndpoints\[0\] "ops": .*url: scheme file is not allowed/);
    const unknown = await apply(doc("[RUN_EXPLODED]"), { ALERT_SECRET: "from-the-environment-0123" });
    expect(unknown.code).toBe(2);
    expect(unknown.out).toContain("alertEndpoints[0].events[0]");
  });
});
