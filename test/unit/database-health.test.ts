import { describe, expect, it } from "vitest";
import { databaseHealth } from "../../src/server/health.ts";

/** A database stand-in whose answers the test gives one by one. */
function database() {
  const asked: { answer(ok: boolean): void }[] = [];
  const query = () =>
    new Promise<void>((resolve, reject) => {
      asked.push({ answer: (ok) => (ok ? resolve() : reject(new Error("down"))) });
    });
  return { query, asked };
}

describe("/healthz's view of the database", () => {
  it("answers from a fresh success without asking, asks again in the background once it is half as old as allowed", async () => {
    let now = 0;
    const db = database();
    const health = databaseHealth(db.query, { maxAgeMs: 1000, now: () => now });
    const first = health();
    expect(db.asked).toHaveLength(1);
    db.asked[0]!.answer(true);
    expect(await first).toEqual({ ok: true, ageMs: 0 });

    now = 300;
    expect(await health()).toEqual({ ok: true, ageMs: 300 });
    expect(db.asked).toHaveLength(1);
    // Half the allowed age: still answered at once, and one background question (not two).
    now = 600;
    expect(await health()).toEqual({ ok: true, ageMs: 600 });
    expect(await health()).toEqual({ ok: true, ageMs: 600 });
    expect(db.asked).toHaveLength(2);
    db.asked[1]!.answer(true);
    await Promise.resolve();
    await Promise.resolve();
    now = 700;
    expect(await health()).toEqual({ ok: true, ageMs: 100 });
  });

  it("never reuses a failure or a stale success: the request waits for a new answer, shared by concurrent requests", async () => {
    let now = 0;
    const db = database();
    const health = databaseHealth(db.query, { maxAgeMs: 1000, now: () => now });
    const first = health();
    db.asked[0]!.answer(true);
    await first;
    now = 5000; // stale: the database may have gone since
    const a = health();
    const b = health();
    expect(db.asked).toHaveLength(2);
    db.asked[1]!.answer(false);
    expect(await a).toEqual({ ok: false, ageMs: 0 });
    expect(await b).toEqual({ ok: false, ageMs: 0 });
    // Down: the next request asks at once (recovery is seen without waiting out an age).
    const c = health();
    expect(db.asked).toHaveLength(3);
    db.asked[2]!.answer(true);
    expect(await c).toEqual({ ok: true, ageMs: 0 });
  });

  it("says unavailable when the database does not answer within the timeout", async () => {
    const db = database();
    const health = databaseHealth(db.query, { timeoutMs: 50 });
    expect(await health()).toEqual({ ok: false, ageMs: 0 });
  });
});
