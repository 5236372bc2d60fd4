import type { OperationExecutor, RunContext } from "../run-context.ts";

/** Which step a REALTIME run is in, and that step's own checkpoint. */
interface RealtimeCheckpoint {
  step: number;
  inner: unknown;
}

/**
 * REALTIME: the system's waiting inbox entries -> connector space (a delta import of the inbox)
 * -> delta sync of what they touched, which plans the exports. One run, so one start-gate
 * decision, one record of every change and one progress stream per micro-batch. Each step keeps
 * its own checkpoint, so a run resumed after a crash continues in the step it was in.
 */
export function createRealtimeExecutor(steps: OperationExecutor[]): OperationExecutor {
  return async (ctx) => {
    const saved = ctx.run.checkpoint as RealtimeCheckpoint | null;
    for (let step = saved?.step ?? 0; step < steps.length; step++)
      await steps[step]!(stepContext(ctx, step, saved?.step === step ? saved.inner : null));
  };
}

/** The run as one step sees it: its own checkpoint in, its batches' checkpoints tagged with the step. */
function stepContext(ctx: RunContext, step: number, checkpoint: unknown): RunContext {
  return {
    ...ctx,
    run: { ...ctx.run, checkpoint },
    connector: () => ctx.connector(),
    batch: (work) =>
      ctx.batch(async (tx) => {
        const outcome = await work(tx);
        return { ...outcome, checkpoint: { step, inner: outcome.checkpoint } satisfies RealtimeCheckpoint };
      }),
    event: (type, data) => ctx.event(type, data),
    publish: ctx.publish ? (topic, payload, tx) => ctx.publish!(topic, payload, tx) : undefined,
  };
}
