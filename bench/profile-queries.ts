// Where the inbound bench's database time goes: every pg query is timed by its statement's first
// 90 characters (callback, promise and COPY stream forms), then the totals are printed at exit.
//   node --import tsx bench/profile-queries.ts --size 100000 [--source csv]
// Times are wall times seen by the client (queued, sent, run, read back), not PostgreSQL's CPU.
import pg from "pg";

const stats = new Map<string, { n: number; ms: number }>();
const record = (key: string, since: number) => {
  const s = stats.get(key) ?? { n: 0, ms: 0 };
  s.n++;
  s.ms += performance.now() - since;
  stats.set(key, s);
};

const query = pg.Client.prototype.query as (...a: unknown[]) => unknown;
(pg.Client.prototype as unknown as { query: unknown }).query = function (this: unknown, ...args: unknown[]) {
  const text = typeof args[0] === "string" ? args[0] : ((args[0] as { text?: string })?.text ?? "?");
  const key = text.replace(/\s+/g, " ").trim().slice(0, 90);
  const started = performance.now();
  const last = args.length - 1;
  if (typeof args[last] === "function") {
    const callback = args[last] as (...a: unknown[]) => void;
    args[last] = (...a: unknown[]) => {
      record(key, started);
      callback(...a);
    };
  }
  const result = query.apply(this, args);
  const stream = args[0] as { on?: (e: string, f: () => void) => void };
  if (typeof stream?.on === "function" && key.startsWith("COPY")) stream.on("finish", () => record(key, started));
  if (result && typeof (result as Promise<unknown>).then === "function")
    (result as Promise<unknown>).then(
      () => record(key, started),
      () => {},
    );
  return result;
};

process.on("beforeExit", () => {
  const top = [...stats].sort((a, b) => b[1].ms - a[1].ms).slice(0, 60);
  for (const [k, s] of top) console.log(`${s.ms.toFixed(0).padStart(8)} ms ${String(s.n).padStart(6)}x  ${k}`);
});
// BENCH_SCRIPT picks another bench (e.g. export-sql.ts); the inbound one by default.
await import(`./${process.env.BENCH_SCRIPT ?? "inbound.ts"}`);
