import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { BreakerSchema } from "../engine/outbound/breaker.ts";
import { AttributeFlowSchema, DeduplicationSchema, DisableFlowSchema, JoinRuleSchema } from "../engine/rule-config.ts";
import { badInput, invalidInput, issueProblems } from "../errors.ts";
import { ConflictStrategy, ConnectorKind, DeprovisionAction, MvoDeletionRule, SyncDirection } from "../generated/prisma/enums.ts";
import { RateLimitSchema } from "../systems/rate-limit-input.ts";
import { RealtimeSchema } from "../systems/realtime-input.ts";
import { AlertEndpointEntry } from "./apply-alerts.ts";
import { ScheduleEntry } from "./apply-schedules.ts";

const SystemEntry = z
  .object({
    name: z.string().min(1).describe("Unique, stable name: apply creates or updates the system of this name."),
    kind: z.enum(ConnectorKind).describe("Connector kind; its config keys are in docs/connectors/README.md."),
    description: z.string().nullish().describe("Free text shown with the system."),
    config: z
      .record(z.string(), z.unknown())
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the text names apply's ${NAME} syntax.
      .describe("Connector-specific configuration; ${NAME} is replaced from the environment (keep secrets out of the file)."),
    deleteThreshold: z
      .number()
      .int()
      .nullish()
      .describe("An export that would delete more objects than this holds its deletes AWAITING_APPROVAL."),
    staging: z
      .boolean()
      .nullish()
      .describe(
        "Staging mode: imports and syncs run and plan exports, exports are never sent (EXPORT is BLOCKED with STAGING; a dry run still previews). Turned off, the next EXPORT sends what waits. Left out on update: unchanged.",
      ),
    realtime: RealtimeSchema.nullish().describe(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the text names apply's ${NAME} syntax.
      "Accept pushed changes (POST /hooks/<system>); give webhookSecret as ${NAME} from the environment. Null turns it off; left out on update: unchanged.",
    ),
    rateLimit: RateLimitSchema.nullish().describe(
      "Pace of every worker's calls to the system; null removes it, left out on update: unchanged.",
    ),
    breaker: BreakerSchema.nullish().describe(
      "Mass-change breaker: a sync run planning more than a limit for this system holds its exports AWAITING_APPROVAL. Percentages (0-100) are of the system's objects. Null: the default protection (deletes above 500 or 5% of the system); left out on update: unchanged.",
    ),
  })
  .strict();

/**
 * A sync rule as in SyncRuleInput, its system referenced by name instead of id. The fields are
 * listed for the published JSON Schema (editor completion); the sync rule service checks them
 * (normalise), so further keys pass through to it rather than being refused here.
 */
const RuleEntry = z
  .object({
    name: z.string().min(1).describe("Unique, stable name: apply creates or updates the rule of this name."),
    connectedSystem: z.string().min(1).describe("Name of the connected system (in this file or already stored)."),
    direction: z.enum(SyncDirection).describe("INBOUND: connector space to metaverse; OUTBOUND: metaverse to connector space."),
    objectType: z.string().min(1).describe('Connector object type, e.g. "person" or "inetOrgPerson".'),
    metaverseObjectType: z.string().min(1).describe('Metaverse object type, e.g. "person".'),
    enabled: z.boolean().nullish().describe("A disabled rule is kept but not used by runs (default true)."),
    scope: z
      .string()
      .nullish()
      .describe("JSONata expression over the source object's attributes; in scope when true; empty = all objects."),
    joinRules: z
      .array(JoinRuleSchema)
      .nullish()
      .describe("Ordered join rules; the first that finds exactly one metaverse object wins."),
    projectToMetaverse: z.boolean().nullish().describe("INBOUND: create a metaverse object when nothing joins."),
    provisionToConnector: z
      .boolean()
      .nullish()
      .describe("OUTBOUND: create a connector object when the metaverse object is in scope and not joined."),
    deprovision: z.enum(DeprovisionAction).nullish().describe("OUTBOUND: what happens to a connector object that leaves scope."),
    deprovisionGraceSeconds: z.number().int().min(0).nullish().describe("OUTBOUND: seconds to wait before deprovisioning."),
    disableFlow: DisableFlowSchema.nullish().describe(
      "OUTBOUND, deprovision DISABLE_THEN_DELETE: the attribute and value that disable the object.",
    ),
    precedence: z
      .number()
      .int()
      .min(0)
      .nullish()
      .describe("INBOUND: lower number wins when several systems flow into the same metaverse attribute (default 100)."),
    attributeFlows: z.array(AttributeFlowSchema).default([]).describe("Attributes written by this rule."),
    mvoDeletionRule: z.enum(MvoDeletionRule).nullish().describe("INBOUND: when a metaverse object is deleted (default MANUAL)."),
    mvoDeletionGraceSeconds: z.number().int().min(0).nullish().describe("INBOUND: seconds to wait before that deletion."),
    deduplication: DeduplicationSchema.nullish().describe(
      "INBOUND: how duplicates among the source objects are found and merged.",
    ),
    conflictStrategy: z.enum(ConflictStrategy).nullish().describe("How a conflicting attribute value is resolved."),
    requireApprovalForCreate: z.boolean().nullish().describe("OUTBOUND: creates wait AWAITING_APPROVAL."),
    requireApprovalForDelete: z.boolean().nullish().describe("OUTBOUND: deletes wait AWAITING_APPROVAL."),
    breaker: BreakerSchema.nullish().describe(
      "OUTBOUND: this rule's own mass-change limits, on the exports it plans (no default).",
    ),
  })
  .catchall(z.unknown());

/** What `metasync apply` reads; docs/apply.schema.json is generated from it (npm run docs:print). */
export const ApplyDocumentSchema = z
  .object({
    connectedSystems: z.array(SystemEntry).default([]).describe("Connected systems, created or updated by name."),
    syncRules: z.array(RuleEntry).default([]).describe("Sync rules, created or updated by name."),
    // Steps name systems: applySchedules resolves them once the systems exist.
    schedules: z.array(ScheduleEntry).default([]).describe("Schedules of runs, created or updated by name."),
    alertEndpoints: z.array(AlertEndpointEntry).default([]).describe("Alert webhooks, created or updated by name."),
  })
  .strict();
const ApplyDocument = ApplyDocumentSchema;

export type ApplyDocument = z.infer<typeof ApplyDocument>;
export type SystemEntry = z.infer<typeof SystemEntry>;
export type RuleEntry = z.infer<typeof RuleEntry>;

/**
 * `${NAME}` in any string is replaced from the environment, so secrets and hosts stay out of the
 * file; `${NAME:-default}` (as in a shell) takes the default when NAME is unset or empty, so an
 * example file runs as it is on a local setup and is pointed elsewhere without editing it.
 */
function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, path: string): unknown {
  if (typeof value === "string")
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback?: string) => {
      const v = env[name];
      if (fallback !== undefined && (v === undefined || v === "")) return fallback;
      if (v === undefined) throw badInput(`${path}: environment variable ${name} is not set`, path);
      return v;
    });
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, `${path}[${i}]`));
  if (value && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, path ? `${path}.${k}` : k)]));
  return value;
}

export function parseApplyDocument(text: string, env: NodeJS.ProcessEnv = process.env): ApplyDocument {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    if (e instanceof YAMLParseError) throw badInput(`not valid YAML: ${e.message.split("\n")[0]}`);
    throw e;
  }
  const parsed = ApplyDocument.safeParse(substituteEnv(raw ?? {}, env, ""), { reportInput: true });
  if (!parsed.success) {
    const problems = issueProblems(parsed.error.issues, "", { brackets: true }).map((p) => ({
      ...p,
      path: p.path || "document",
    }));
    // One problem reads as before ("path: message"); several are listed together.
    if (problems.length === 1) throw badInput(`${problems[0]?.path}: ${problems[0]?.message}`, problems[0]?.path);
    throw invalidInput("invalid document", problems);
  }
  for (const [list, entries] of [
    ["connectedSystems", parsed.data.connectedSystems],
    ["syncRules", parsed.data.syncRules],
    ["alertEndpoints", parsed.data.alertEndpoints],
  ] as const) {
    const names = new Set<string>();
    for (const e of entries) {
      if (names.has(e.name)) throw badInput(`${list}: "${e.name}" appears twice`, list);
      names.add(e.name);
    }
  }
  return parsed.data;
}
