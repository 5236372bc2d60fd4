import { explainRun, type RunExplanation } from "../systems/run-explanation.ts";
import { builder } from "./builder.ts";

const RunExplanationRef = builder.objectRef<RunExplanation>("RunExplanation").implement({
  description: "Why a run that COMPLETED changed nothing, when the reason is known.",
  fields: (t) => ({
    code: t.exposeString("code", {
      description:
        "Stable code: SOURCE_EMPTY, NO_SOURCE_CHANGES, ALL_UNCHANGED, NOT_IMPORTED, NO_OBJECT_IN_SCOPE, RULE_CHANGED_SINCE_FULL_SYNC, HELD_FOR_APPROVAL, WAITING_FOR_RETRY, NO_SOURCE_RULE, NOT_SYNCED, RULE_CHANGED_SINCE_SYNC, NO_METAVERSE_OBJECTS, NOT_PROVISIONING or UP_TO_DATE.",
    }),
    message: t.exposeString("message", { description: "One sentence for humans, the same the CLI prints." }),
    nextSteps: t.exposeStringList("nextSteps", { description: "What to do about it, if anything." }),
  }),
});

builder.prismaObjectField("Run", "explanation", (t) =>
  t.field({
    type: RunExplanationRef,
    nullable: true,
    description: "Set when the run COMPLETED without creating, updating, deleting or planning anything: why (null otherwise).",
    resolve: (run, _args, ctx) => explainRun(ctx.services.db.prisma, run),
  }),
);
