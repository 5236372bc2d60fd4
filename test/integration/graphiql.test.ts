import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../helpers/app.ts";
import { type Browser, launchChromium } from "../helpers/browser.ts";

// GraphiQL at GET /graphql must work without the internet: its page, scripts, styles and editor
// workers all come from this server, under a CSP that allows nothing else.

let app: TestApp;
let browser: Browser | undefined;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

const openPage = () => fetch(`${app.url}/graphql`, { headers: { accept: "text/html" } });

describe("GraphiQL", () => {
  it("references only assets of this server, each answered 200, under a same-origin CSP", async () => {
    const page = await openPage();
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'self'");
    expect(csp).not.toMatch(/https?:|unpkg|jsdelivr/);
    const html = await page.text();
    const refs = [...html.matchAll(/\b(?:src|href)\s*=\s*["']?([^"'\s>]+)/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThanOrEqual(2);
    expect(html).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)/);
    for (const ref of refs) {
      expect(ref, `${ref} is served by this server`).toMatch(/^\/(?!\/)/);
      const asset = await fetch(new URL(ref, app.url));
      expect(asset.status, ref).toBe(200);
      expect(asset.headers.get("x-content-type-options"), ref).toBe("nosniff");
      expect((await asset.arrayBuffer()).byteLength, ref).toBeGreaterThan(0);
    }
    const unknown = await fetch(`${app.url}/graphiql/../package.json`);
    expect(unknown.status).not.toBe(200);
  });

  it("runs in a real browser from this server alone: editor loaded, a query answered, no CSP or load errors", async () => {
    browser = await launchChromium();
    const page = await browser.newPage();
    await page.goto(`${app.url}/graphql`);
    await page.waitFor("document.querySelector('.graphiql-container .monaco-editor')", "the GraphiQL editor", 30_000);
    const resources = await page.evaluate<string[]>(
      "[location.href, ...performance.getEntriesByType('resource').map((e) => e.name)]",
    );
    const elsewhere = resources.filter((u) => !u.startsWith(app.url) && !/^(blob|data):/.test(u));
    expect(elsewhere).toEqual([]);
    // The page's own client reaches the API (schema introspection for completion).
    const answered = await page.evaluate<string>(
      `fetch("/graphql", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ __typename }" }) }).then((r) => r.text())`,
    );
    expect(JSON.parse(answered)).toEqual({ data: { __typename: "Query" } });
    expect(page.problems).toEqual([]);
  });
});
