import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { badInput } from "../errors.ts";
import { ConnectorKind, SyncDirection } from "../generated/prisma/enums.ts";

const SystemEntry = z
  .object({
    name: z.string().min(1),
    kind: z.enum(ConnectorKind),
    description: z.string().nullish(),
    config: z.record(z.string(), z.unknown()),
    deleteThreshold: z.number().int().nullish(),
  })
  .strict();

/** A sync rule as in SyncRuleInput, its system referenced by name instead of id. */
const RuleEntry = z
  .object({
    name: z.string().min(1),
    connectedSystem: z.string().min(1),
    direction: z.enum(SyncDirection),
    objectType: z.string().min(1),
    metaverseObjectType: z.string().min(1),
    attributeFlows: z.array(z.unknown()).default([]),
  })
  .catchall(z.unknown());

const ApplyDocument = z
  .object({
    connectedSystems: z.array(SystemEntry).default([]),
    syncRules: z.array(RuleEntry).default([]),
    schedules: z.array(z.record(z.string(), z.unknown())).default([]),
  })
  .strict();

export type ApplyDocument = z.infer<typeof ApplyDocument>;
export type SystemEntry = z.infer<typeof SystemEntry>;
export type RuleEntry = z.infer<typeof RuleEntry>;

/** `${NAME}` in any string is replaced from the environment, so secrets stay out of the file. */
function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, path: string): unknown {
  if (typeof value === "string")
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const v = env[name];
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
  const parsed = ApplyDocument.safeParse(substituteEnv(raw ?? {}, env, ""));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = (issue?.path ?? [])
      .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
      .join("")
      .replace(/^\./, "");
    throw badInput(`${path || "document"}: ${issue?.message ?? "invalid"}`, path);
  }
  for (const [list, entries] of [
    ["connectedSystems", parsed.data.connectedSystems],
    ["syncRules", parsed.data.syncRules],
  ] as const) {
    const names = new Set<string>();
    for (const e of entries) {
      if (names.has(e.name)) throw badInput(`${list}: "${e.name}" appears twice`, list);
      names.add(e.name);
    }
  }
  return parsed.data;
}
