// Where a bench's database time goes: every pg statement is timed by its text (promise, callback
// and COPY stream forms), and the totals are printed at exit.
//   node --import tsx bench/profile-queries.ts --size 100000 [--source csv]
// Times are wall times seen by the client (queued, sent, run, read back), not PostgreSQL's CPU.
import { timeStatements } from "./statement-timing.ts";

const timing = timeStatements();
process.on("beforeExit", () => console.log(timing.report()));
// BENCH_SCRIPT picks another bench (e.g. export-sql.ts); the inbound one by default.
await import(`./${process.env.BENCH_SCRIPT ?? "inbound.ts"}`);
