import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Connector, ExportChange } from "../../../src/connectors/connector.ts";
import { ConnectorError } from "../../../src/connectors/connector.ts";
import { rateLimited } from "../../../src/engine/connected-system/rate-limited-connector.ts";
import { SystemRateLimiter } from "../../../src/engine/connected-system/rate-limiter.ts";
import type { Services } from "../../../src/services.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

// The buckets are rows in PostgreSQL: takers on separate connection pools (as separate worker
// processes are) share one pace, and a target's Retry-After holds them all.
let services: Services;
let otherPool: pg.Pool;
beforeAll(async () => {
  services = await createTestServices();
  otherPool = new pg.Pool({ connectionString: services.db.url, max: 2 });
});
afterAll(async () => {
  await otherPool?.end();
  await closeTestServices(services);
});

const system = async (name: string) =>
  (await services.systems.create({ name, kind: "CSV", config: { path: "/data/x.csv", anchor: "id" } })).id;

/** A target that writes whatever it is given and notes when. */
function recordingConnector(answer?: (c: ExportChange) => "ok" | "throttled"): Connector & { writes: number[] } {
  const writes: number[] = [];
  return {
    writes,
    capabilities: { fullImport: true, deltaImport: false, export: true, schemaDiscovery: false, rename: false },
    testConnection: async () => ({ message: "ok" }),
    discoverSchema: async () => ({ objectTypes: [] }),
    importFull: async function* () {},
    importDelta: async function* () {},
    async export(changes) {
      return changes.map((c) => {
        writes.push(Date.now());
        return answer?.(c) === "throttled"
          ? { id: c.id, status: "TRANSIENT_FAILURE", code: "THROTTLED", message: "429", retryAfterMs: 1500 }
          : { id: c.id, status: "APPLIED" };
      });
    },
    close: async () => {},
  };
}

const changes = (n: number, from = 0): ExportChange[] =>
  Array.from({ length: n }, (_, i) => ({ id: `e${from + i}`, changeType: "CREATE", objectType: "x", attributes: [] }));

describe("rate limits held in PostgreSQL", () => {
  it("paces two takers on separate pools as one: 60 objects at 20/s with a burst of 10 take at least 2.5 s", async () => {
    const systemId = await system("shared");
    const limit = { objectsPerSecond: 20, burst: 10 };
    const a = recordingConnector();
    const b = recordingConnector();
    const left = rateLimited(a, new SystemRateLimiter({ pool: services.db.pool, systemId, limit }));
    const right = rateLimited(b, new SystemRateLimiter({ pool: otherPool, systemId, limit }));
    const started = Date.now();
    await Promise.all([left.export(changes(30)), right.export(changes(30, 30))]);
    const writes = [...a.writes, ...b.writes].sort((x, y) => x - y);
    expect(writes).toHaveLength(60);
    // Each pool alone would be done after (30 - 10) / 20 = 1 s: only a shared bucket takes 2.5 s.
    expect(writes.at(-1)! - started).toBeGreaterThanOrEqual(2400);
    // Never more than the burst plus a second of rate in any one second (plus one late chunk on a loaded machine).
    for (const t of writes) expect(writes.filter((w) => w >= t && w < t + 1000).length).toBeLessThanOrEqual(10 + 20 + 10);
  });

  it("a Retry-After from the target holds every taker of the system, even one without a limit", async () => {
    const systemId = await system("throttled");
    let first = true;
    const target = recordingConnector(() => {
      const answer = first ? "throttled" : "ok";
      first = false;
      return answer;
    });
    const throttled = rateLimited(target, new SystemRateLimiter({ pool: services.db.pool, systemId, limit: null }));
    const [result] = await throttled.export(changes(1));
    expect(result).toMatchObject({ status: "TRANSIENT_FAILURE", code: "THROTTLED", retryAfterMs: 1500 });
    // Another worker's call to the same system waits out the 1.5 s.
    const other = recordingConnector();
    const elsewhere = rateLimited(other, new SystemRateLimiter({ pool: otherPool, systemId, limit: null }));
    const asked = Date.now();
    await elsewhere.export(changes(1, 1));
    expect(other.writes[0]! - asked).toBeGreaterThanOrEqual(1300);
  });

  it("a Retry-After thrown with an import error holds the system too", async () => {
    const systemId = await system("throttled-import");
    const failing: Connector = {
      ...recordingConnector(),
      importFull: async function* () {
        yield* [];
        throw new ConnectorError("THROTTLED", "503 busy", true, { retryAfterMs: 1200 });
      },
    };
    const limiter = new SystemRateLimiter({ pool: services.db.pool, systemId, limit: null });
    const pages = rateLimited(failing, limiter).importFull(null, {} as never);
    await expect(
      (async () => {
        for await (const _ of pages);
      })(),
    ).rejects.toThrow("503 busy");
    const asked = Date.now();
    await new SystemRateLimiter({ pool: otherPool, systemId, limit: null }).take({ requests: 1 });
    expect(Date.now() - asked).toBeGreaterThanOrEqual(1000);
  });
});
