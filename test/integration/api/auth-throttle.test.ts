import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { createTestServices } from "../../helpers/services.ts";

let app: TestApp;
let valid: string;

beforeAll(async () => {
  app = await startTestApp(await createTestServices({ limits: { authFailuresPerMinute: 3 } }));
  valid = (await app.services.apiKeys.create({ role: "READER" })).key;
});
afterAll(() => app?.stop());

const as = (key: string) => ({ authorization: `Bearer ${key}` });

describe("failed authentications", () => {
  it("are throttled per address with 429 and Retry-After, while a key in use keeps working", async () => {
    expect((await app.gql("{ health { status } }", undefined, as(valid))).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await app.gql("{ __typename }", undefined, as(`msk_guess${i}`))).status).toBe(401);
    const throttled = await app.gql("{ __typename }", undefined, as("msk_guess4"));
    expect(throttled.status).toBe(429);
    expect(throttled.errors?.[0]?.extensions?.code).toBe("RATE_LIMITED");
    expect(Number(throttled.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // /metrics and WebSockets go through the same gate.
    const metrics = await fetch(`${app.url}/metrics`, { headers: as("msk_guess5") });
    expect(metrics.status).toBe(429);
    expect(metrics.headers.get("retry-after")).toBeTruthy();
    const ws = await new Promise<{ code?: number; reason?: string }>((resolve) => {
      app
        .ws({ authorization: "Bearer msk_guess6" })
        .subscribe(
          { query: "{ __typename }" },
          { next: () => resolve({}), error: (e) => resolve(e as never), complete: () => {} },
        );
    });
    expect(ws).toMatchObject({ code: 4429, reason: expect.stringMatching(/^RATE_LIMITED/) });
    // The valid key is not slowed down.
    const ok = await app.gql("{ health { status } }", undefined, as(valid));
    expect(ok.status).toBe(200);
    expect(ok.data.health.status).toBe("ok");
  });
});
