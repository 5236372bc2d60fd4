// Only imports: each file registers its types on the builder.
import "./scalars.ts";
import "./enums.ts";
import "./health.ts";
import "./connected-system.ts";
import "./system-events.ts";
import "./run.ts";
import "./schedule.ts";
import { builder } from "./builder.ts";

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

export const schema = builder.toSchema({ sortSchema: false });
