import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { createCsvSystem } from "../../helpers/fixtures.ts";

let app: TestApp;
let systemId: string;
beforeAll(async () => {
  app = await startTestApp();
  systemId = (await createCsvSystem(app.services, "hr")).id;
});
afterAll(() => app?.stop());

const CREATE = /* GraphQL */ `
  mutation ($input: SyncRuleInput!) {
    createSyncRule(input: $input) { id conflictStrategy }
  }`;

const input = (name: string, conflictStrategy: unknown) => ({
  name,
  connectedSystemId: systemId,
  direction: "INBOUND",
  objectType: "person",
  metaverseObjectType: "person",
  attributeFlows: [{ target: "employeeId", source: "id" }],
  conflictStrategy,
});

describe("conflictStrategy is a closed set", () => {
  it("keeps the wire format: the strings accepted before go in as variables and come back as they were", async () => {
    const r = await app.gql(CREATE, { input: input("hr-in", "newest_wins") });
    expect(r.errors).toBeUndefined();
    expect(r.data.createSyncRule.conflictStrategy).toBe("newest_wins");
    const refused = await app.gql(CREATE, { input: input("hr-in-2", "first_wins") });
    expect(refused.data).toBeFalsy();
    // The same code as before the enum (BAD_USER_INPUT), now naming the value and the enum.
    expect(refused.errors?.[0]).toMatchObject({ extensions: { code: "BAD_USER_INPUT" } });
    expect(refused.errors?.[0]?.message).toContain('"first_wins" does not exist in "ConflictStrategy"');
  });

  it("the database refuses a strategy outside the set: no engine fallback can meet one", async () => {
    const { rows } = await app.services.db.pool.query<{ id: string }>("SELECT id FROM sync_rule LIMIT 1");
    await expect(
      app.services.db.pool.query("UPDATE sync_rule SET conflict_strategy = 'first_wins' WHERE id = $1", [rows[0]!.id]),
    ).rejects.toThrow(/conflict_strategy/);
    const stored = await app.services.db.pool.query("SELECT conflict_strategy FROM sync_rule WHERE id = $1", [rows[0]!.id]);
    expect(stored.rows).toEqual([{ conflict_strategy: "newest_wins" }]);
  });
});
