import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import WebSocket from "ws";

/**
 * A real headless Chromium driven over the DevTools protocol: a ~150-line CDP client on `ws`
 * instead of puppeteer (no extra dependency, no browser download; the Debian `chromium`
 * package that scripts/test.mjs installs is the browser).
 */

const CANDIDATES = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

export function findChromium(): string | undefined {
  return CANDIDATES.find((p): p is string => !!p && existsSync(p));
}

type Pending = { resolve: (v: any) => void; reject: (e: Error) => void; method: string };

class Cdp {
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private listeners = new Set<(method: string, params: any, sessionId?: string) => void>();
  constructor(private ws: WebSocket) {
    ws.on("message", (raw) => {
      const msg = JSON.parse(raw.toString());
      if (msg.id !== undefined) {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
        else p.resolve(msg.result);
      } else for (const l of this.listeners) l(msg.method, msg.params, msg.sessionId);
    });
    ws.on("close", () => {
      for (const p of this.pending.values()) p.reject(new Error(`${p.method}: browser connection closed`));
      this.pending.clear();
    });
  }
  send<T = any>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.ws.send(JSON.stringify({ id, method, params, sessionId }));
    });
  }
  on(listener: (method: string, params: any, sessionId?: string) => void) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export interface Page {
  /** Console errors, uncaught exceptions and failed requests seen so far (CSP violations included). */
  readonly problems: string[];
  goto(url: string): Promise<void>;
  /** Evaluates an expression (async allowed) in the page and returns its JSON value. */
  evaluate<T = unknown>(expression: string): Promise<T>;
  /** Polls `expression` until it is truthy; returns its value. On timeout, throws naming `what`. */
  waitFor<T = unknown>(expression: string, what: string, timeoutMs?: number): Promise<T>;
  screenshot(file: string): Promise<void>;
}

export interface Browser {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<Browser> {
  const binary = findChromium();
  if (!binary) throw new Error("Chromium is not installed: run  apt-get install -y chromium  (npm test does it when root)");
  const profile = mkdtempSync(path.join(tmpdir(), "metasync-chromium-"));
  const child: ChildProcess = spawn(
    binary,
    [
      "--headless=new",
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      "--no-sandbox", // the suite runs as root in CI
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-extensions",
      "--disable-background-networking",
      "--disable-component-update",
      "--mute-audio",
      "--window-size=1360,1000",
      "about:blank",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const wsUrl = await new Promise<string>((resolve, reject) => {
    let stderr = "";
    const timer = setTimeout(() => reject(new Error(`Chromium did not start in 15 s:\n${stderr.slice(-2000)}`)), 15_000);
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = stderr.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`Chromium exited (${code}) before listening:\n${stderr.slice(-2000)}`));
    });
  });
  child.stderr!.resume();
  const ws = new WebSocket(wsUrl, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  const cdp = new Cdp(ws);

  return {
    async newPage() {
      const { targetId } = await cdp.send("Target.createTarget", { url: "about:blank" });
      const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true });
      const send = <T = any>(method: string, params: Record<string, unknown> = {}) => cdp.send<T>(method, params, sessionId);
      const problems: string[] = [];
      const loads: (() => void)[] = [];
      cdp.on((method, params, sid) => {
        if (sid !== sessionId) return;
        if (method === "Page.loadEventFired") {
          for (const loaded of loads.splice(0)) loaded();
        } else if (method === "Runtime.exceptionThrown")
          problems.push(`exception: ${params.exceptionDetails?.exception?.description ?? params.exceptionDetails?.text}`);
        else if (method === "Runtime.consoleAPICalled" && params.type === "error")
          problems.push(`console.error: ${params.args.map((a: any) => a.value ?? a.description).join(" ")}`);
        else if (method === "Log.entryAdded" && params.entry.level === "error")
          problems.push(`${params.entry.source}: ${params.entry.text} ${params.entry.url ?? ""}`);
      });
      await Promise.all([send("Page.enable"), send("Runtime.enable"), send("Log.enable")]);

      const evaluate = async <T>(expression: string): Promise<T> => {
        const r = await send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true });
        if (r.exceptionDetails)
          throw new Error(`in page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text} (${expression})`);
        return r.result.value as T;
      };
      return {
        problems,
        async goto(url) {
          let timer: NodeJS.Timeout | undefined;
          const loaded = new Promise<void>((resolve, reject) => {
            loads.push(resolve);
            timer = setTimeout(() => reject(new Error(`${url} did not load in 10 s`)), 10_000);
          });
          try {
            const r = await send("Page.navigate", { url });
            if (r.errorText) throw new Error(`navigating to ${url}: ${r.errorText}`);
            // A fragment change in the same document has no loader and fires no load event.
            if (r.loaderId) await loaded;
          } finally {
            clearTimeout(timer);
            loaded.catch(() => {});
          }
        },
        evaluate,
        async waitFor<T>(expression: string, what: string, timeoutMs = 10_000): Promise<T> {
          const deadline = Date.now() + timeoutMs;
          let last: unknown;
          for (;;) {
            last = await evaluate<T>(expression);
            if (last) return last as T;
            if (Date.now() > deadline) {
              const text = await evaluate<string>("document.querySelector('main')?.innerText ?? ''").catch(() => "?");
              throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; the page shows:\n${text.slice(0, 3000)}`);
            }
            await new Promise((r) => setTimeout(r, 50));
          }
        },
        async screenshot(file) {
          // The whole page, not just the viewport.
          const { cssContentSize: size } = await send("Page.getLayoutMetrics");
          const clip = { x: 0, y: 0, width: Math.ceil(size.width), height: Math.min(Math.ceil(size.height), 4000), scale: 1 };
          const { data } = await send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true, clip });
          writeFileSync(file, Buffer.from(data, "base64"));
        },
      };
    },
    async close() {
      await cdp.send("Browser.close").catch(() => {});
      ws.close();
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
