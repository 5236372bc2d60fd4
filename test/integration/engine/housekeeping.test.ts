import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pushEntries } from "../../../src/engine/realtime/inbox-store.ts";
import { housekeepingOptions, pruneOnce, startHousekeeping } from "../../../src/jobs/housekeeping.ts";
import type { Services } from "../../../src/services.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

// Retention: applied inbox entries and ended alerts past their age are deleted by the worker's
// housekeeping; what waits, what is recent and a delivery still retrying are kept.
let services: Services;
beforeAll(async () => {
  services = await createTestServices();
});
afterAll(() => closeTestServices(services));

const record = (anchor: string) => ({ op: "upsert" as const, objectType: "person", anchor, attributes: { id: anchor } });
const q = (sql: string, values: unknown[] = []) => services.db.pool.query(sql, values);

async function alert(key: string, ageDays: number, deliveryEnded: boolean) {
  const { rows } = await q(
    `INSERT INTO alert (event, dedupe_key, payload, created_at) VALUES ('RUN_FAILED', $1, '{}', now() - make_interval(days => $2)) RETURNING id`,
    [key, ageDays],
  );
  const { rows: d } = await q(
    `INSERT INTO alert_delivery (alert_id, endpoint_name, url, status, finished_at)
     VALUES ($1, 'ops', 'http://127.0.0.1:9/x', $2, CASE WHEN $3 THEN now() ELSE NULL END) RETURNING id`,
    [rows[0].id, deliveryEnded ? "DELIVERED" : "PENDING", deliveryEnded],
  );
  await q("INSERT INTO alert_delivery_attempt (delivery_id, attempt, status_code, started_at) VALUES ($1, 1, 500, now())", [
    d[0].id,
  ]);
}

describe("housekeeping", () => {
  it("prunes applied inbox entries and ended alerts past their retention, keeps the rest", async () => {
    const system = await services.systems.create({ name: "hr", kind: "CSV", config: { path: "/data/hr.csv", anchor: "id" } });
    const [old, recent] = await pushEntries(services.db.pool, system.id, [record("old"), record("recent"), record("waiting")]);
    await q("UPDATE inbox_entry SET applied_at = now() - interval '8 days' WHERE id = $1", [old]);
    await q("UPDATE inbox_entry SET applied_at = now() - interval '1 hour' WHERE id = $1", [recent]);
    await alert("old-ended", 40, true);
    await alert("old-retrying", 40, false);
    await alert("recent", 1, true);

    // As a worker starts it: a pass at once (stop() waits for it).
    const housekeeping = startHousekeeping({ pool: services.db.pool, logger: services.logger }, housekeepingOptions({}));
    await housekeeping.stop();

    const inbox = await q("SELECT anchor FROM inbox_entry WHERE connected_system_id = $1 ORDER BY anchor", [system.id]);
    expect(inbox.rows.map((r) => r.anchor)).toEqual(["recent", "waiting"]);
    const alerts = await q("SELECT dedupe_key FROM alert ORDER BY dedupe_key");
    expect(alerts.rows.map((r) => r.dedupe_key)).toEqual(["old-retrying", "recent"]);
    expect((await q("SELECT count(*)::int AS n FROM alert_delivery_attempt")).rows[0].n).toBe(2);

    // A shorter retention from the environment reaches the recent entry too.
    const shorter = housekeepingOptions({ METASYNC_INBOX_RETENTION_HOURS: "0.5" });
    expect(await pruneOnce(services.db.pool, shorter)).toEqual({ inboxEntries: 1, alerts: 0 });
  });

  it("lets one worker prune at a time: another's pass is skipped while the first holds the lock", async () => {
    const other = new pg.Client({ connectionString: services.db.url });
    await other.connect();
    try {
      await other.query("SELECT pg_advisory_lock($1, $2)", [0x6d73, -2]);
      expect(await pruneOnce(services.db.pool, housekeepingOptions({}))).toBeNull();
      await other.query("SELECT pg_advisory_unlock($1, $2)", [0x6d73, -2]);
      expect(await pruneOnce(services.db.pool, housekeepingOptions({}))).toEqual({ inboxEntries: 0, alerts: 0 });
    } finally {
      await other.end();
    }
  });

  it("refuses a retention that is not a positive number, naming the variable", () => {
    expect(() => housekeepingOptions({ METASYNC_ALERT_RETENTION_DAYS: "-1" })).toThrow(/METASYNC_ALERT_RETENTION_DAYS/);
    expect(() => housekeepingOptions({ METASYNC_INBOX_RETENTION_HOURS: "week" })).toThrow(/METASYNC_INBOX_RETENTION_HOURS/);
  });
});
