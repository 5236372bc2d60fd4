// Only imports: each file registers its types on the builder.
import "./scalars.ts";
import "./enums.ts";
import "./health.ts";
import "./connected-system.ts";
import "./connector-kind.ts";
import "./system-events.ts";
import "./inbox-events.ts";
import "./run.ts";
import "./run-explanation.ts";
import "./schedule.ts";
import "./metaverse-object.ts";
import "./metaverse-explain.ts";
import "./connector-space-object.ts";
import "./pending-export.ts";
import "./pending-export-actions.ts";
import "./api-key.ts";
import "./sync-rule.ts";
import "./breaker.ts";
import "./connected-system-actions.ts";
import "./alert.ts";
import "./change-notifications.ts";
import { builder } from "./builder.ts";

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

export const schema = builder.toSchema({ sortSchema: false });
