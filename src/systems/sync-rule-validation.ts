import { z } from "zod";
import { compileExpression, ExpressionError } from "../engine/expressions.ts";
import { isPlainName } from "../engine/flows.ts";
import { BreakerSchema } from "../engine/outbound/breaker.ts";
import {
  AttributeFlowSchema,
  ConflictStrategySchema,
  DeduplicationSchema,
  DisableFlowSchema,
  JoinRuleSchema,
} from "../engine/rule-config.ts";
import { AppError, badInput } from "../errors.ts";
import type { DeprovisionAction, MvoDeletionRule, SyncDirection } from "../generated/prisma/enums.ts";

/** SyncRuleInput of the API (and of YAML apply), plus the optional columns beyond API.md. */
export interface SyncRuleInput {
  name: string;
  connectedSystemId: string;
  direction: SyncDirection;
  objectType: string;
  metaverseObjectType: string;
  scope?: string | null;
  joinRules?: unknown[] | null;
  projectToMetaverse?: boolean | null;
  provisionToConnector?: boolean | null;
  deprovision?: DeprovisionAction | null;
  precedence?: number | null;
  attributeFlows: unknown[];
  enabled?: boolean | null;
  deprovisionGraceSeconds?: number | null;
  disableFlow?: unknown;
  mvoDeletionRule?: MvoDeletionRule | null;
  mvoDeletionGraceSeconds?: number | null;
  deduplication?: unknown;
  conflictStrategy?: string | null;
  requireApprovalForCreate?: boolean | null;
  requireApprovalForDelete?: boolean | null;
  /** OUTBOUND: this rule's own mass-change breaker (engine/outbound/breaker.ts). */
  breaker?: unknown;
}

/** Column values of a validated rule: what is written, and what apply compares. */
export type SyncRuleData = ReturnType<typeof normalise>;

/** Compile once at save time, as a run compiles it: a rule with a broken expression never reaches a run. */
export function compileJsonata(expression: string, path: string): void {
  try {
    compileExpression(expression);
  } catch (e) {
    if (!(e instanceof ExpressionError)) throw e;
    const at = e.position !== undefined ? ` at position ${e.position}` : "";
    throw new AppError("BAD_USER_INPUT", `${path}: invalid JSONata${at}: ${e.reason}`, {
      path,
      position: e.position ?? null,
      jsonataCode: e.jsonataCode,
    });
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown, path: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = [path, ...(issue?.path ?? []).map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))].join("");
  throw badInput(`${where.replace(/\.\[/g, "[")}: ${issue?.message ?? "invalid"}`, where);
}

const nonNegative = (value: number | null | undefined, path: string) => {
  if (value != null && (!Number.isInteger(value) || value < 0)) throw badInput(`${path} must be a whole number, 0 or more`, path);
  return value;
};

/** Shape checks that need no database: names, JSON columns, expressions, direction-specific options. */
export function normalise(input: SyncRuleInput) {
  if (!/^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,99}$/.test(input.name))
    throw badInput("name must be 1-100 letters, digits, spaces, '_', '.', ':' or '-', starting with a letter or digit", "name");
  if (!input.objectType.trim()) throw badInput("objectType must not be empty", "objectType");
  if (!input.metaverseObjectType.trim()) throw badInput("metaverseObjectType must not be empty", "metaverseObjectType");
  const inbound = input.direction === "INBOUND";
  if (!inbound && input.projectToMetaverse)
    throw badInput("projectToMetaverse applies to INBOUND rules only", "projectToMetaverse");
  if (inbound && input.provisionToConnector)
    throw badInput("provisionToConnector applies to OUTBOUND rules only", "provisionToConnector");
  if (inbound && input.deprovision) throw badInput("deprovision applies to OUTBOUND rules only", "deprovision");

  const joinRules = parse(z.array(JoinRuleSchema), input.joinRules ?? [], "joinRules");
  const attributeFlows = parse(z.array(AttributeFlowSchema), input.attributeFlows, "attributeFlows");
  const disableFlow = input.disableFlow == null ? null : parse(DisableFlowSchema, input.disableFlow, "disableFlow");
  const deduplication = input.deduplication == null ? null : parse(DeduplicationSchema, input.deduplication, "deduplication");
  const conflictStrategy =
    input.conflictStrategy == null ? null : parse(ConflictStrategySchema, input.conflictStrategy, "conflictStrategy");
  if (inbound && input.breaker != null) throw badInput("breaker applies to OUTBOUND rules only", "breaker");
  const parsedBreaker = input.breaker == null ? null : parse(BreakerSchema, input.breaker, "breaker");
  const breaker = parsedBreaker ? Object.fromEntries(Object.entries(parsedBreaker).filter(([, v]) => v != null)) : null;
  if (input.deprovision === "DISABLE_THEN_DELETE" && !disableFlow)
    throw badInput("deprovision DISABLE_THEN_DELETE needs a disableFlow { attribute, value }", "disableFlow");

  if (input.scope != null && input.scope.trim() !== "") compileJsonata(input.scope, "scope");
  joinRules.forEach((j, i) => {
    if (!isPlainName(j.source)) compileJsonata(j.source, `joinRules[${i}].source`);
  });
  attributeFlows.forEach((f, i) => {
    if (f.expression !== undefined) compileJsonata(f.expression, `attributeFlows[${i}].expression`);
  });
  const targets = new Set<string>();
  attributeFlows.forEach((f, i) => {
    const key = f.target.toLowerCase();
    if (targets.has(key))
      throw badInput(`attributeFlows[${i}].target: "${f.target}" is written by two flows`, `attributeFlows[${i}].target`);
    targets.add(key);
  });

  return {
    name: input.name,
    connectedSystemId: input.connectedSystemId,
    direction: input.direction,
    enabled: input.enabled ?? true,
    objectType: input.objectType,
    metaverseObjectType: input.metaverseObjectType,
    scope: input.scope?.trim() ? input.scope : null,
    joinRules,
    projectToMetaverse: input.projectToMetaverse ?? false,
    provisionToConnector: input.provisionToConnector ?? false,
    deprovision: input.deprovision ?? null,
    deprovisionGraceSeconds: nonNegative(input.deprovisionGraceSeconds, "deprovisionGraceSeconds") ?? null,
    disableFlow,
    precedence: nonNegative(input.precedence, "precedence") ?? 100,
    attributeFlows,
    mvoDeletionRule: input.mvoDeletionRule ?? "MANUAL",
    mvoDeletionGraceSeconds: nonNegative(input.mvoDeletionGraceSeconds, "mvoDeletionGraceSeconds") ?? 0,
    deduplication,
    conflictStrategy,
    requireApprovalForCreate: input.requireApprovalForCreate ?? false,
    requireApprovalForDelete: input.requireApprovalForDelete ?? false,
    breaker,
  };
}

/**
 * Attribute names against the discovered schema of the rule's object type: INBOUND reads
 * connector attributes (flow sources, plain join sources), OUTBOUND writes them (flow targets;
 * "dn" is the LDAP distinguished name, not an attribute). Case-insensitive, as LDAP is.
 */
export function checkAttributes(rule: SyncRuleData, objectType: string, attributes: string[]): void {
  const known = new Set(attributes.map((a) => a.toLowerCase()));
  const fail = (path: string, name: string) => {
    const list = attributes.slice(0, 20).join(", ");
    throw badInput(`${path}: attribute "${name}" does not exist on object type "${objectType}" (known: ${list})`, path);
  };
  if (rule.direction === "INBOUND") {
    rule.attributeFlows.forEach((f, i) => {
      if (f.source !== undefined && !known.has(f.source.toLowerCase())) fail(`attributeFlows[${i}].source`, f.source);
    });
    rule.joinRules.forEach((j, i) => {
      if (isPlainName(j.source) && !known.has(j.source.toLowerCase())) fail(`joinRules[${i}].source`, j.source);
    });
  } else {
    rule.attributeFlows.forEach((f, i) => {
      if (f.target.toLowerCase() !== "dn" && !known.has(f.target.toLowerCase())) fail(`attributeFlows[${i}].target`, f.target);
    });
  }
}
