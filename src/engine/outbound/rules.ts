import type pg from "pg";
import type { Attributes } from "../../connectors/connector.ts";
import type { DeprovisionAction } from "../../generated/prisma/enums.ts";
import { compileScope, type FlowValue } from "../expressions.ts";
import { compileFlow } from "../flows.ts";
import { AttributeFlowSchema, type DisableFlow, DisableFlowSchema } from "../rule-config.ts";
import { attributed, type RuleRef } from "../rule-expression-error.ts";
import { expressionInputs, type FlowInputs } from "./inputs.ts";

export interface OutboundFlow {
  target: string;
  /** The metaverse attribute copied, when the flow is a plain copy (loop prevention reads it). */
  source: string | null;
  /** The flow's expression as written, for errors that name it. */
  expression: string | null;
  unique: boolean;
  initialOnly: boolean;
  reference: boolean;
  /** What the flow reads: required in full for the DN and the anchor (see desired.ts). */
  inputs: FlowInputs;
  /** `bindings`: values of the rule's earlier flows by target name ($uid in a DN expression). */
  compute(attributes: Attributes, n: number, bindings?: Record<string, FlowValue>): FlowValue | Promise<FlowValue>;
}

export interface OutboundRule {
  id: string;
  name: string;
  systemId: string;
  objectType: string;
  metaverseType: string;
  provision: boolean;
  deprovision: DeprovisionAction;
  graceSeconds: number;
  disableFlow: DisableFlow | null;
  approveCreates: boolean;
  approveDeletes: boolean;
  inScope(attributes: Attributes): boolean | Promise<boolean>;
  /** LDAP: the system's base DN; a computed DN outside it is refused (dn-flow.ts). */
  baseDn?: string | null;
  flows: OutboundFlow[];
  /** The target object type's discovered schema (empty when the system's schema was never discovered). */
  target: TargetSchema;
}

export interface TargetSchema {
  anchor: string | null;
  /** Lower-cased attribute name -> multi-valued; an attribute missing here is of unknown multiplicity. */
  multiValued: Map<string, boolean>;
}

interface Row {
  id: string;
  name: string;
  connected_system_id: string;
  object_type: string;
  metaverse_object_type: string;
  scope: string | null;
  provision_to_connector: boolean;
  deprovision: OutboundRule["deprovision"] | null;
  deprovision_grace_seconds: number | null;
  disable_flow: unknown;
  attribute_flows: unknown;
  require_approval_for_create: boolean;
  require_approval_for_delete: boolean;
  base_dn: string | null;
}

/** Every enabled outbound rule, expressions compiled once per run. */
export async function loadOutboundRules(pool: Pick<pg.Pool, "query">): Promise<OutboundRule[]> {
  const { rows } = await pool.query<Row>(
    `SELECT r.id, r.name, r.connected_system_id, r.object_type, r.metaverse_object_type, r.scope, r.provision_to_connector,
            r.deprovision, r.deprovision_grace_seconds, r.disable_flow, r.attribute_flows, r.require_approval_for_create,
            r.require_approval_for_delete, CASE WHEN s.kind = 'LDAP' THEN cs.config->>'baseDn' END AS base_dn
       FROM sync_rule r
       JOIN connected_system s ON s.id = r.connected_system_id
       LEFT JOIN connection_settings cs ON cs.connected_system_id = s.id AND cs.version = s.current_settings_version
      WHERE r.direction = 'OUTBOUND' AND r.enabled ORDER BY r.name`,
  );
  const schemas = await targetSchemas(pool);
  return rows.map((r) => {
    // Expressions that fail throw a RuleExpressionError naming this rule, the part and the expression.
    const ref: RuleRef = { id: r.id, name: r.name };
    return {
      target: schemas.get(`${r.connected_system_id}\u0000${r.object_type}`) ?? { anchor: null, multiValued: new Map() },
      id: r.id,
      name: r.name,
      systemId: r.connected_system_id,
      objectType: r.object_type,
      metaverseType: r.metaverse_object_type,
      provision: r.provision_to_connector,
      deprovision: r.deprovision ?? "DISCONNECT",
      graceSeconds: r.deprovision_grace_seconds ?? 0,
      disableFlow: r.disable_flow ? DisableFlowSchema.parse(r.disable_flow) : null,
      approveCreates: r.require_approval_for_create,
      approveDeletes: r.require_approval_for_delete,
      inScope: attributed(ref, "scope", r.scope ?? "", compileScope(r.scope)),
      baseDn: r.base_dn,
      flows: AttributeFlowSchema.array()
        .parse(r.attribute_flows)
        .map((f) => {
          // engine/flows.ts: the same flow text means what it means inbound.
          const flow = compileFlow(f);
          return {
            target: f.target,
            source: flow.source,
            expression: f.expression ?? null,
            unique: f.unique ?? false,
            initialOnly: f.initialOnly ?? false,
            reference: f.reference ?? false,
            inputs: f.expression ? expressionInputs(f.expression) : { attributes: f.source ? [f.source] : [], variables: [] },
            compute: attributed(
              ref,
              `attribute flow "${f.target}"`,
              flow.text,
              (a: Attributes, n: number, bindings?: Record<string, FlowValue>) => flow.compute(a, n, bindings),
            ),
          };
        }),
    };
  });
}

/** Every system's discovered object types: anchor attribute and each attribute's multiplicity. */
async function targetSchemas(pool: Pick<pg.Pool, "query">): Promise<Map<string, TargetSchema>> {
  const { rows } = await pool.query<{ system: string; type: string; anchor: string | null; name: string | null; multi: boolean }>(
    `SELECT t.connected_system_id AS system, t.name AS type, t.anchor_attribute AS anchor, a.name, a.multi_valued AS multi
       FROM object_type t LEFT JOIN attribute_definition a ON a.object_type_id = t.id
      WHERE t.connected_system_id IN (SELECT connected_system_id FROM sync_rule WHERE direction = 'OUTBOUND' AND enabled)`,
  );
  const out = new Map<string, TargetSchema>();
  for (const r of rows) {
    const key = `${r.system}\u0000${r.type}`;
    let schema = out.get(key);
    if (!schema) out.set(key, (schema = { anchor: r.anchor, multiValued: new Map() }));
    if (r.name !== null) schema.multiValued.set(r.name.toLowerCase(), r.multi);
  }
  return out;
}
