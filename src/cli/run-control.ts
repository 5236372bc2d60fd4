import { AppError } from "../errors.ts";
import { cancelRun } from "../jobs/cancel.ts";
import { pauseRun } from "../jobs/pause.ts";
import { presentStartResult } from "../jobs/start-result-presenter.ts";
import { decodeId } from "../schema/global-id.ts";
import type { Services } from "../services.ts";
import { EXIT, UsageError } from "./session.ts";

export const PAUSE_USAGE = "pause <run-id>   stop a RUNNING run at its next batch boundary as PAUSED";
export const RESUME_USAGE = "resume <run-id>   continue a PAUSED run from its checkpoint (preflight again)";
export const CANCEL_USAGE = "cancel <run-id>   cancel a queued, running or paused run";
export const STAGING_USAGE = "staging <system> on|off   plan exports without sending them (off: the next export sends them)";

type Command = (services: Services, args: string[]) => Promise<number>;

/**
 * The operator's run controls on the command line, the same calls as the pauseRun, resumeRun and
 * cancelRun mutations and as `staging` on updateConnectedSystem. Exit codes: 0 done; 1 refused
 * (CONFLICT: the run's status does not allow it; BLOCKED: resume's preflight failed); 2 bad usage
 * or an unknown run or system.
 */
export const runControlCommands: Record<string, { usage: string; run: Command }> = {
  pause: {
    usage: PAUSE_USAGE,
    run: (services, args) =>
      answer("pause", async () => {
        const status = await pauseRun({ pool: services.db.pool, bus: services.bus }, runId(args));
        console.log(status === "PAUSED" ? "run is PAUSED" : "pause requested: the run pauses at its next batch boundary");
        return EXIT.OK;
      }),
  },
  resume: {
    usage: RESUME_USAGE,
    run: (services, args) =>
      answer("resume", async () => {
        const shown = presentStartResult(await services.startGate.resume(runId(args)));
        console.log(shown.message);
        if (shown.reasonCode) console.log(`reason: ${shown.reasonCode}: ${shown.reason}`);
        for (const step of shown.nextSteps) console.log(`next: ${step}`);
        return shown.outcome === "ACCEPTED" ? EXIT.OK : EXIT.FAILED;
      }),
  },
  cancel: {
    usage: CANCEL_USAGE,
    run: (services, args) =>
      answer("cancel", async () => {
        const id = runId(args);
        await cancelRun({ ...services, pool: services.db.pool, staleAfterMs: services.runOptions.staleAfterMs }, id);
        const run = await services.db.prisma.run.findUniqueOrThrow({ where: { id } });
        console.log(`run is ${run.status}`);
        return EXIT.OK;
      }),
  },
  staging: {
    usage: STAGING_USAGE,
    run: (services, args) =>
      answer("staging", async () => {
        const [name, state, ...extra] = args;
        if (!name || !["on", "off"].includes(state ?? "") || extra.length)
          throw new UsageError("give a system name and on or off");
        const system = await services.systems.setStaging(name, state === "on");
        const waiting = await services.db.prisma.pendingExport.count({
          where: { connectedSystemId: system.id, status: { in: ["PENDING", "AWAITING_APPROVAL"] } },
        });
        console.log(
          system.staging
            ? `${name} is in staging: exports are planned and kept (${waiting} waiting), none is sent`
            : `${name} is live: the next export sends the ${waiting} waiting`,
        );
        return EXIT.OK;
      }),
  },
};

function runId(args: string[]): string {
  if (args.length !== 1) throw new UsageError("give one run id");
  return decodeId("Run", args[0]!, "run-id");
}

/** The command's outcome as an exit code: CONFLICT is a refusal (1), bad input or unknown ids are usage (2). */
async function answer(name: string, work: () => Promise<number>): Promise<number> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`metasync ${name}: ${e.message}\nusage: metasync ${runControlCommands[name]!.usage}`);
      return EXIT.USAGE;
    }
    if (e instanceof AppError) {
      console.error(`metasync ${name}: ${e.message} (${e.code})`);
      return e.code === "CONFLICT" ? EXIT.FAILED : EXIT.USAGE;
    }
    throw e;
  }
}

/** The commands' usage lines, for `metasync --help`. */
export const RUN_CONTROL_USAGE = Object.values(runControlCommands)
  .map((c) => c.usage)
  .join("\n  ");
