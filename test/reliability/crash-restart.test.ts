import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KillPoint } from "../fixtures/kill-points.ts";
import { createWorld, people, type World } from "./world.ts";

// Workers SIGKILLed at chosen points of a real full import, full sync and the exports to a real
// slapd and a real SQL table: each run is recovered (stale heartbeat -> resumed from its
// checkpoint by the next worker process), ends COMPLETED, and the installation ends exactly like
// an uninterrupted one fed the same data. `npm test` runs the small size; `npm run
// test:reliability` (RELIABILITY_SIZE=full) more people and more kill points.
const FULL = process.env.RELIABILITY_SIZE === "full";
const PEOPLE = FULL ? 2_000 : 120;
const BATCHES = FULL ? { import: 150, sync: 200, export: 100 } : { import: 25, sync: 30, export: 20 };

const importKill = (at: KillPoint["at"], n: number): KillPoint => ({ operation: "connector.full_import", system: "hr", at, n });
const syncKill = (at: KillPoint["at"], n: number): KillPoint => ({ operation: "connector.full_sync", system: "hr", at, n });
const exportKill = (system: "ldap" | "sql", at: KillPoint["at"], n: number): KillPoint => ({
  operation: "connector.export",
  system,
  at,
  n,
});

/**
 * Where workers die, in order: each entry is one SIGKILL (n counts in the process armed with it,
 * so a second kill in one run counts from the resumed attempt). afterExport is the idempotent
 * export case: the target applied the batch, the database never stored it.
 */
const KILLS: KillPoint[] = FULL
  ? [
      importKill("afterBatch", 3),
      importKill("inBatch", 4),
      syncKill("afterBatch", 3),
      syncKill("inBatch", 2),
      exportKill("ldap", "afterExport", 3),
      exportKill("ldap", "inBatch", 5),
      exportKill("sql", "afterExport", 2),
      exportKill("sql", "afterBatch", 6),
    ]
  : [
      importKill("afterBatch", 2),
      syncKill("inBatch", 3),
      exportKill("ldap", "afterExport", 2),
      exportKill("sql", "afterExport", 1),
    ];

let reference: World;
let crashed: World;

beforeAll(async () => {
  const rows = people(PEOPLE);
  [reference, crashed] = await Promise.all([createWorld(rows, BATCHES), createWorld(rows, BATCHES, KILLS)]);
}, 120_000);
afterAll(async () => {
  await Promise.all([reference?.close(), crashed?.close()]);
  if (crashed?.kills.length)
    console.log(
      crashed.kills
        .map(
          (k) =>
            `${k.profile} ${k.system}: ${k.kill.at} #${k.kill.n} -> killed at batch ${k.atKill.batch} (${k.atKill.processed} processed, ${k.atKill.status}); ended ${k.finalStatus} after ${k.attempts} attempts`,
        )
        .join("\n"),
    );
});

describe("workers killed with SIGKILL mid-run", () => {
  it(
    "resume every run to COMPLETED and end with the state of an uninterrupted installation",
    async () => {
      const steps = [
        ["hr", "FULL_IMPORT"],
        ["hr", "FULL_SYNC"],
        ["ldap", "EXPORT"],
        ["sql", "EXPORT"],
        // Confirming imports: a duplicated or lost entry/row would show as an extra or missing object.
        ["ldap", "FULL_IMPORT"],
        ["sql", "FULL_IMPORT"],
      ] as const;
      for (const [system, profile] of steps) {
        const [expected, actual] = await Promise.all([reference.run(system, profile), crashed.run(system, profile)]);
        expect(expected.status, `${profile} ${system} (reference)`).toBe("COMPLETED");
        // Counts are committed with each batch's checkpoint: a redone batch is counted once. An
        // export's reference updates are not compared: how many managers wait for a later pass
        // depends on which entries existed when each batch was sent, which pipelining varies.
        const { updated: _a, ...want } = expected;
        const { updated: _b, ...got } = actual;
        expect(profile === "EXPORT" ? got : actual, `${profile} ${system}`).toEqual(profile === "EXPORT" ? want : expected);
      }
      expect(crashed.kills).toHaveLength(KILLS.length);
      for (const k of crashed.kills) {
        expect(k.atKill.status).toBe("RUNNING");
        expect(k.finalStatus).toBe("COMPLETED");
      }

      const [want, got] = await Promise.all([reference.snapshot(), crashed.snapshot()]);
      expect(want.ldap).toHaveLength(PEOPLE);
      expect(want.sql).toHaveLength(PEOPLE);
      expect(want.metaverse).toHaveLength(PEOPLE);
      // Every export applied once and confirmed by the next import; nothing left EXECUTING or
      // failed. Reference updates (a manager's DN sent once the manager's entry exists) are
      // exports of their own whose number varies with pipelining even without a crash (13 and
      // 21 in two uninterrupted runs): only their status is compared.
      const settled = (exports: Record<string, number>) =>
        Object.fromEntries(Object.entries(exports).map(([k, n]) => [k, k.startsWith("ldap UPDATE") ? "some" : n]));
      expect(settled(want.pendingExports)).toEqual({
        "sql CREATE CONFIRMED": PEOPLE,
        "ldap CREATE CONFIRMED": PEOPLE,
        "ldap UPDATE CONFIRMED": "some",
      });
      expect(settled(got.pendingExports)).toEqual(settled(want.pendingExports));
      expect(got.metaverse).toEqual(want.metaverse);
      expect(got.connectorSpace).toEqual(want.connectorSpace);
      // Every report carries its manager's DN (references to identities synced in later batches
      // are not lost), and the LDAP entries and SQL rows are the same, none twice.
      expect(want.ldap.filter((e) => e.includes('"manager"'))).toHaveLength(PEOPLE - 10);
      expect(got.ldap).toEqual(want.ldap);
      expect(got.sql).toEqual(want.sql);
    },
    FULL ? 900_000 : 240_000,
  );
});
