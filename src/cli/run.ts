import { parseArgs } from "node:util";
import cliProgress from "cli-progress";
import type { Config } from "../config.ts";
import { AppError } from "../errors.ts";
import type { Run } from "../generated/prisma/client.ts";
import { parseProfile } from "../jobs/operations.ts";
import { presentStartResult } from "../jobs/start-result-presenter.ts";
import type { Logger } from "../logger.ts";
import type { Services } from "../services.ts";
import { explainRun } from "../systems/run-explanation.ts";
import { EXIT, withCliServices } from "./session.ts";

export const RUN_USAGE = "run <system> <profile> [--wait] [--dry-run]   start a run through the start gate";

/**
 * `metasync run <system> <profile> [--wait] [--dry-run]`: the start gate, called directly on the
 * server's database (trigger MANUAL). Exit codes: 0 = accepted/deduped (without --wait) or
 * COMPLETED (with --wait); 1 = blocked, scope busy, or the run ended otherwise; 2 = bad input.
 */
export async function runCommand(args: string[], config: Config, logger: Logger): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (e) {
    console.error(`metasync run: ${(e as Error).message}\nusage: metasync ${RUN_USAGE}`);
    return 2;
  }
  const profile = parseProfile(parsed.profile);
  if (!profile) {
    console.error(
      `metasync run: unknown profile "${parsed.profile}" (BAD_USER_INPUT): use full_import, delta_import, full_sync, delta_sync or export`,
    );
    return 2;
  }
  return withCliServices(config, logger, async (services) => {
    let result: Awaited<ReturnType<Services["startGate"]["start"]>>;
    try {
      result = await services.startGate.start({ systemName: parsed.system, profile, dryRun: parsed.dryRun, trigger: "MANUAL" });
    } catch (e) {
      if (e instanceof AppError) {
        console.error(`metasync run: ${e.message} (${e.code})`);
        return EXIT.USAGE;
      }
      throw e;
    }
    const shown = presentStartResult(result);
    console.log(shown.message);
    if (shown.reasonCode) console.log(`reason: ${shown.reasonCode}: ${shown.reason}`);
    for (const step of shown.nextSteps) console.log(`next: ${step}`);
    const followable = shown.outcome === "ACCEPTED" || shown.outcome === "DEDUPED";
    if (!followable) return EXIT.FAILED;
    if (!parsed.wait) return EXIT.OK;
    const final = await follow(services, shown.runId);
    console.log(summary(final));
    // A run that changed nothing says why, when the reason is known (no rule ran, nothing pending, ...).
    const explanation = await explainRun(services.db.prisma, final);
    if (explanation) {
      console.log(`why: ${explanation.code}: ${explanation.message}`);
      for (const step of explanation.nextSteps) console.log(`next: ${step}`);
    }
    return final.status === "COMPLETED" ? EXIT.OK : EXIT.FAILED;
  });
}

function parse(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { wait: { type: "boolean", default: false }, "dry-run": { type: "boolean", default: false } },
  });
  const [system, profile, ...extra] = positionals;
  if (!system || !profile) throw new Error("a system name and a profile are required");
  if (extra.length) throw new Error(`unexpected argument "${extra[0]}"`);
  return { system, profile, wait: values.wait ?? false, dryRun: values["dry-run"] ?? false };
}

/** Live progress until a final status, driven by the event bus (runs in any worker process). */
async function follow(services: Services, runId: string): Promise<Run> {
  const tty = Boolean(process.stderr.isTTY);
  const bar = new cliProgress.SingleBar(
    { format: "{status} {phase} [{bar}] {value}/{total} batch {batch}", hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let last: Run | null = null;
  for await (const run of services.runFeed.run(runId)) {
    last = run;
    const payload = { status: run.status, phase: run.phase, batch: run.batch };
    if (tty) {
      if (!started) bar.start(run.total ?? run.processed, run.processed, payload);
      started = true;
      bar.setTotal(run.total ?? Math.max(run.processed, 1));
      bar.update(run.processed, payload);
    } else {
      // Not a terminal (CI, pipes): one plain line per update instead of redrawing.
      console.error(`progress: ${run.status} ${run.phase} batch ${run.batch} ${run.processed}/${run.total ?? "?"}`);
    }
  }
  if (started) bar.stop();
  if (!last) throw new Error(`run ${runId} disappeared`);
  return last;
}

function summary(run: Run): string {
  const counts = `fetched ${run.fetched}, created ${run.created}, updated ${run.updated}, deleted ${run.deleted}, unchanged ${run.unchanged}, failed ${run.failed}, exports queued ${run.exportsQueued}`;
  const why = run.reasonCode ? ` (${run.reasonCode}: ${run.reason ?? run.error ?? ""})` : "";
  return `run ${run.id} ${run.status}${why}: ${counts}`;
}
