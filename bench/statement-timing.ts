// Per-statement wall time seen by the client: every pg Client query is timed (from the call to
// its answer, waits for the server included) and summed by its text. Benchmarks turn it on with
// BENCH_STATEMENTS=1 around the phase they measure, to see which statements an object costs.
import pg from "pg";

interface Totals {
  calls: number;
  ms: number;
}

/** Times statements from now until stop(); report() lists the costliest, per object when given. */
export function timeStatements(): { stop(): void; report(objects?: number): string } {
  const totals = new Map<string, Totals>();
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const query = proto.query;
  const note = (text: string, started: number) => {
    const key = text.replace(/\s+/g, " ").trim().slice(0, 110);
    const t = totals.get(key) ?? { calls: 0, ms: 0 };
    t.calls++;
    t.ms += performance.now() - started;
    totals.set(key, t);
  };
  proto.query = function (this: unknown, ...args: unknown[]) {
    const first = args[0];
    const text = typeof first === "string" ? first : (first as { text?: unknown } | null)?.text;
    if (typeof text !== "string") return query.apply(this, args);
    const started = performance.now();
    const last = args.at(-1);
    if (typeof last === "function") {
      args[args.length - 1] = (...result: unknown[]) => {
        note(text, started);
        return (last as (...a: unknown[]) => unknown)(...result);
      };
      return query.apply(this, args);
    }
    const answer = query.apply(this, args);
    // A COPY ... FROM STDIN is a stream: timed until it has been written through.
    const stream = first as { on?: (event: string, listener: () => void) => void };
    if (typeof stream?.on === "function" && text.startsWith("COPY")) stream.on("finish", () => note(text, started));
    else if (answer && typeof (answer as Promise<unknown>).then === "function")
      (answer as Promise<unknown>).then(
        () => note(text, started),
        () => note(text, started),
      );
    return answer;
  };
  return {
    stop() {
      proto.query = query;
    },
    report(objects) {
      const rows = [...totals].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25);
      const all = [...totals.values()].reduce((n, t) => n + t.ms, 0);
      const perObject = (ms: number) => (objects ? ((ms * 1000) / objects).toFixed(0) : "-");
      return [
        `statements: ${all.toFixed(0)} ms in all, ${perObject(all)} us per object`,
        ...rows.map(
          ([text, t]) =>
            `${t.ms.toFixed(0).padStart(7)} ms ${String(t.calls).padStart(6)} calls ${perObject(t.ms).padStart(5)} us/obj  ${text}`,
        ),
      ].join("\n");
    },
  };
}
