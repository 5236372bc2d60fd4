import type pg from "pg";
import type { Attributes } from "../../connectors/connector.ts";
import type { MvoDeletionRule } from "../../generated/prisma/enums.ts";
import { compileScope, type FlowValue } from "../expressions.ts";
import { compileFlow as compileFlowValue, compileJoinSource } from "../flows.ts";
import {
  type AttributeFlow,
  AttributeFlowSchema,
  type ConflictStrategy,
  type Deduplication,
  DeduplicationSchema,
  type JoinRule,
  JoinRuleSchema,
} from "../rule-config.ts";
import { attributed, type RuleRef } from "../rule-expression-error.ts";
import { normaliseKey } from "./keys.ts";

export interface CompiledFlow {
  target: string;
  /** Throws a RuleExpressionError naming the rule, this flow and its expression. */
  initialOnly: boolean;
  /** Synchronous for a copy of an attribute, a promise for an expression (JSONata is async). */
  compute(attributes: Attributes): FlowValue | Promise<FlowValue>;
}

export interface CompiledJoinRule {
  metaverseAttribute: string;
  values(attributes: Attributes): Promise<string[]>;
}

export interface InboundRule {
  id: string;
  name: string;
  systemId: string;
  objectType: string;
  metaverseType: string;
  precedence: number;
  projectToMetaverse: boolean;
  mvoDeletionRule: MvoDeletionRule;
  mvoDeletionGraceSeconds: number;
  conflictStrategy: ConflictStrategy | null;
  deduplication: Deduplication | null;
  /** Throws a RuleExpressionError naming the rule when its scope expression fails. */
  inScope(attributes: Attributes): boolean | Promise<boolean>;
  joinRules: CompiledJoinRule[];
  flows: CompiledFlow[];
}

/** The flow as engine/flows.ts compiles it (the same text outbound), failures naming the rule. */
function compileFlow(flow: AttributeFlow, rule: RuleRef): CompiledFlow {
  const compiled = compileFlowValue(flow);
  return {
    target: flow.target,
    initialOnly: flow.initialOnly ?? false,
    compute: attributed(rule, `attribute flow "${flow.target}"`, compiled.text, (a: Attributes) => compiled.compute(a)),
  };
}

function compileJoin(join: JoinRule, index: number, rule: RuleRef): CompiledJoinRule {
  const compute = compileJoinSource(join.source);
  const values = attributed(rule, `join rule ${index + 1}`, join.source, async (attributes: Attributes) => {
    const value = await compute(attributes);
    if (value === null) return [];
    return (Array.isArray(value) ? value : [value]).map(normaliseKey);
  });
  return { metaverseAttribute: join.metaverseAttribute, values: async (attributes) => values(attributes) };
}

interface RuleRow {
  id: string;
  name: string;
  connected_system_id: string;
  object_type: string;
  metaverse_object_type: string;
  scope: string | null;
  join_rules: unknown;
  project_to_metaverse: boolean;
  precedence: number;
  attribute_flows: unknown;
  mvo_deletion_rule: InboundRule["mvoDeletionRule"];
  mvo_deletion_grace_seconds: number;
  deduplication: unknown;
  conflict_strategy: ConflictStrategy | null;
}

/**
 * Every enabled inbound rule of every system, compiled once per run: a sync recomputes a
 * metaverse object from all its connectors, so it needs the other systems' rules too.
 */
export async function loadInboundRules(pool: Pick<pg.Pool, "query">): Promise<InboundRule[]> {
  const { rows } = await pool.query<RuleRow>(
    `SELECT id, name, connected_system_id, object_type, metaverse_object_type, scope, join_rules, project_to_metaverse,
            precedence, attribute_flows, mvo_deletion_rule, mvo_deletion_grace_seconds, deduplication, conflict_strategy
       FROM sync_rule WHERE direction = 'INBOUND' AND enabled ORDER BY precedence, name`,
  );
  return rows.map((r) => {
    const ref: RuleRef = { id: r.id, name: r.name };
    return {
      id: r.id,
      name: r.name,
      systemId: r.connected_system_id,
      objectType: r.object_type,
      metaverseType: r.metaverse_object_type,
      precedence: r.precedence,
      projectToMetaverse: r.project_to_metaverse,
      mvoDeletionRule: r.mvo_deletion_rule,
      mvoDeletionGraceSeconds: r.mvo_deletion_grace_seconds,
      conflictStrategy: r.conflict_strategy,
      deduplication: r.deduplication ? DeduplicationSchema.parse(r.deduplication) : null,
      inScope: attributed(ref, "scope", r.scope ?? "", compileScope(r.scope)),
      joinRules: JoinRuleSchema.array()
        .parse(r.join_rules)
        .map((j, i) => compileJoin(j, i, ref)),
      flows: AttributeFlowSchema.array()
        .parse(r.attribute_flows)
        .map((f) => compileFlow(f, ref)),
    };
  });
}

/** The first rule of `systemId` for the object's type whose scope includes it. */
export async function ruleFor(rules: InboundRule[], systemId: string, objectType: string, attributes: Attributes) {
  for (const rule of rules) {
    if (rule.systemId !== systemId || rule.objectType !== objectType) continue;
    const inScope = rule.inScope(attributes);
    if (inScope === true || (inScope instanceof Promise && (await inScope))) return rule;
  }
  return null;
}
