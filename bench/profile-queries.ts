// Temporary: time every pg query by statement prefix, then run the inbound bench.
import pg from "pg";

const stats = new Map<string, { n: number; ms: number }>();
const orig = pg.Client.prototype.query as (...a: unknown[]) => unknown;
(pg.Client.prototype as unknown as { query: unknown }).query = function (this: unknown, ...args: unknown[]) {
  const text = typeof args[0] === "string" ? args[0] : ((args[0] as { text?: string })?.text ?? "?");
  const key = text.replace(/\s+/g, " ").trim().slice(0, 90);
  const t0 = performance.now();
  const last = args.length - 1;
  if (typeof args[last] === "function") {
    const cb = args[last] as (...a: unknown[]) => void;
    args[last] = (...a: unknown[]) => {
      const s = stats.get(key) ?? { n: 0, ms: 0 };
      s.n++;
      s.ms += performance.now() - t0;
      stats.set(key, s);
      cb(...a);
    };
  }
  const r = orig.apply(this, args);
  const stream = args[0] as { on?: (e: string, f: () => void) => void };
  if (typeof stream?.on === "function" && key.startsWith("COPY"))
    stream.on("finish", () => {
      const s = stats.get(key) ?? { n: 0, ms: 0 };
      s.n++;
      s.ms += performance.now() - t0;
      stats.set(key, s);
    });
  if (r && typeof (r as Promise<unknown>).then === "function")
    (r as Promise<unknown>).then(
      () => {
        const s = stats.get(key) ?? { n: 0, ms: 0 };
        s.n++;
        s.ms += performance.now() - t0;
        stats.set(key, s);
      },
      () => {},
    );
  return r;
};
process.on("beforeExit", () => {
  const top = [...stats].sort((a, b) => b[1].ms - a[1].ms).slice(0, 60);
  for (const [k, s] of top) console.log(`${s.ms.toFixed(0).padStart(8)} ms ${String(s.n).padStart(6)}x  ${k}`);
});
await import("./inbound.ts");
