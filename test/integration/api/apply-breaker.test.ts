import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { applyCommand } from "../../../src/cli/apply.ts";
import type { Services } from "../../../src/services.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

// `breaker` in an apply file: on systems and outbound rules, idempotent, bad limits refused by path.
let services: Services;
const dir = mkdtempSync(path.join(tmpdir(), "metasync-apply-breaker-"));
beforeAll(async () => {
  services = await createTestServices({});
});
afterAll(() => closeTestServices(services));

const doc = (breaker: string) => `
connectedSystems:
  - name: accounts
    kind: CSV
    config: { path: ${path.join(dir, "accounts.csv")}, anchor: id, columns: [id, department] }
    breaker: ${breaker}
syncRules:
  - name: accounts-out
    connectedSystem: accounts
    direction: OUTBOUND
    objectType: person
    metaverseObjectType: person
    breaker: { maxCreates: 100 }
    attributeFlows:
      - { target: id, source: employeeId }
`;

async function apply(text: string): Promise<{ code: number; out: string }> {
  const file = path.join(dir, "metasync.yaml");
  writeFileSync(file, text);
  const lines: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...a) => void lines.push(a.join(" ")));
  const err = vi.spyOn(console, "error").mockImplementation((...a) => void lines.push(a.join(" ")));
  try {
    return { code: await applyCommand(services, [file]), out: lines.join("\n") };
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}

describe("apply: breaker", () => {
  it("stores a system's and a rule's breaker, changes nothing when applied again, and refuses limits out of range by path", async () => {
    const breaker = "{ maxDeletePercent: 2, maxUpdates: 50, attributes: [{ name: department, maxChangePercent: 2 }] }";
    expect((await apply(doc(breaker))).code).toBe(0);
    const system = await services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { name: "accounts" } });
    expect(system.breaker).toEqual({
      maxDeletePercent: 2,
      maxUpdates: 50,
      attributes: [{ name: "department", maxChangePercent: 2 }],
    });
    const rule = await services.db.prisma.syncRule.findUniqueOrThrow({ where: { name: "accounts-out" } });
    expect(rule.breaker).toEqual({ maxCreates: 100 });

    const again = await apply(doc(breaker));
    expect(again.code).toBe(0);
    expect(again.out).toContain("0 created, 0 updated, 2 unchanged");

    expect((await apply(doc("null"))).code).toBe(0);
    expect((await services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { name: "accounts" } })).breaker).toBeNull();

    const bad = await apply(doc("{ maxDeletePercent: 150 }"));
    expect(bad.code).not.toBe(0);
    expect(bad.out).toContain("connectedSystems[0].breaker.maxDeletePercent");
    expect((await services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { name: "accounts" } })).breaker).toBeNull();
  });
});
