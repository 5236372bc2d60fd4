import type pg from "pg";
import { compileScope } from "../expressions.ts";

/** Where one identity stands with one outbound rule, and why. */
export interface ProvisioningDecision {
  ruleId: string;
  ruleName: string;
  systemId: string;
  systemName: string;
  enabled: boolean;
  /** The rule applies to this identity now (enabled, its metaverse type, active, scope true). */
  inScope: boolean;
  state:
    | "DISABLED"
    | "OTHER_TYPE"
    | "IDENTITY_INACTIVE"
    | "OUT_OF_SCOPE"
    | "SCOPE_ERROR"
    | "PROVISIONED"
    | "JOINED"
    | "CREATE_PENDING"
    | "NOT_PROVISIONING"
    | "NOT_PLANNED"
    | "LEFT_SCOPE";
  reason: string;
  /** The identity's object in the rule's system, when it has one (a placeholder while its CREATE waits). */
  connectorSpaceObjectId: string | null;
  /** Exports of that object not applied yet: "CREATE PENDING", "UPDATE AWAITING_APPROVAL", ... */
  openExports: { id: string; changeType: string; status: string; reason: string | null }[];
}

export interface ExplainedIdentity {
  id: string;
  type: string;
  status: string;
  attributes: Record<string, unknown>;
}

interface RuleRow {
  id: string;
  name: string;
  enabled: boolean;
  system_id: string;
  system_name: string;
  metaverse_object_type: string;
  scope: string | null;
  provision_to_connector: boolean;
  deprovision: string | null;
}

interface ObjectRow {
  id: string;
  system_id: string;
  anchor: string;
  join_type: string | null;
  joined_at: Date | null;
}

interface ExportRow {
  id: string;
  cso_id: string | null;
  system_id: string;
  change_type: string;
  status: string;
  reason: string | null;
}

/**
 * Why an identity was or was not provisioned to each target: every outbound rule (disabled ones
 * too, so "why not" has an answer), with the rule's scope evaluated now over the identity's
 * attributes exactly as export planning evaluates it (compileScope), its object in the target
 * and the exports still open for it. Read-only: planning itself stays in plan.ts / decide.ts.
 */
export async function explainProvisioning(
  db: Pick<pg.Pool, "query">,
  identity: ExplainedIdentity,
): Promise<ProvisioningDecision[]> {
  const { rows: rules } = await db.query<RuleRow>(
    `SELECT r.id, r.name, r.enabled, r.connected_system_id AS system_id, s.name AS system_name, r.metaverse_object_type,
            r.scope, r.provision_to_connector, r.deprovision
       FROM sync_rule r JOIN connected_system s ON s.id = r.connected_system_id
      WHERE r.direction = 'OUTBOUND' ORDER BY s.name, r.name`,
  );
  if (!rules.length) return [];
  const { rows: objects } = await db.query<ObjectRow>(
    `SELECT id, connected_system_id AS system_id, anchor, join_type, joined_at
       FROM connector_space_object WHERE metaverse_object_id = $1`,
    [identity.id],
  );
  const { rows: exports } = await db.query<ExportRow>(
    `SELECT id, connector_space_object_id AS cso_id, connected_system_id AS system_id, change_type, status,
            coalesce(approval_reason, last_error) AS reason
       FROM pending_export
      WHERE metaverse_object_id = $1 AND status IN ('AWAITING_APPROVAL', 'PENDING', 'FAILED', 'ERROR', 'EXECUTING')
      ORDER BY created_at`,
    [identity.id],
  );
  const decisions: ProvisioningDecision[] = [];
  for (const rule of rules) {
    const cso = objects.find((o) => o.system_id === rule.system_id) ?? null;
    const open = exports
      .filter((e) => e.system_id === rule.system_id && (!cso || !e.cso_id || e.cso_id === cso.id))
      .map((e) => ({ id: e.id, changeType: e.change_type, status: e.status, reason: e.reason }));
    const base = {
      ruleId: rule.id,
      ruleName: rule.name,
      systemId: rule.system_id,
      systemName: rule.system_name,
      enabled: rule.enabled,
      connectorSpaceObjectId: cso?.id ?? null,
      openExports: open,
    };
    const scope = await scopeOf(rule, identity);
    decisions.push({ ...base, inScope: scope.inScope, ...decide(rule, scope, cso, open) });
  }
  return decisions;
}

type Scope = { inScope: boolean; state?: ProvisioningDecision["state"]; reason: string };

async function scopeOf(rule: RuleRow, identity: ExplainedIdentity): Promise<Scope> {
  if (!rule.enabled) return { inScope: false, state: "DISABLED", reason: `Rule "${rule.name}" is disabled.` };
  if (rule.metaverse_object_type !== identity.type)
    return {
      inScope: false,
      state: "OTHER_TYPE",
      reason: `Rule "${rule.name}" applies to "${rule.metaverse_object_type}" identities; this one is a "${identity.type}".`,
    };
  if (identity.status !== "ACTIVE")
    return {
      inScope: false,
      state: "IDENTITY_INACTIVE",
      reason: `The identity is ${identity.status.toLowerCase().replaceAll("_", " ")}: no rule provisions it any more.`,
    };
  if (!rule.scope)
    return { inScope: true, reason: `Rule "${rule.name}" has no scope: every "${rule.metaverse_object_type}" is in it.` };
  try {
    const inScope = await compileScope(rule.scope)(identity.attributes);
    return {
      inScope,
      state: inScope ? undefined : "OUT_OF_SCOPE",
      reason: `The scope of rule "${rule.name}" (${rule.scope}) is ${inScope ? "true" : "false"} for this identity.`,
    };
  } catch (e) {
    return {
      inScope: false,
      state: "SCOPE_ERROR",
      reason: `The scope of rule "${rule.name}" (${rule.scope}) failed for this identity: ${(e as Error).message}`,
    };
  }
}

function decide(
  rule: RuleRow,
  scope: Scope,
  cso: ObjectRow | null,
  open: ProvisioningDecision["openExports"],
): { state: ProvisioningDecision["state"]; reason: string } {
  const target = rule.system_name;
  const waiting = open.length
    ? ` Open: ${open.map((e) => `${e.changeType} ${e.status}${e.reason ? ` (${e.reason})` : ""}`).join(", ")}.`
    : "";
  const pendingCreate = open.find((e) => e.changeType === "CREATE");
  if (!scope.inScope) {
    if (cso && scope.state !== "OTHER_TYPE") {
      const action = rule.deprovision ?? "DISCONNECT";
      const planned = open.some(
        (e) => e.changeType === "DELETE" || (action === "DISABLE_THEN_DELETE" && e.changeType === "UPDATE"),
      );
      return {
        state: "LEFT_SCOPE",
        reason: planned
          ? `${scope.reason} The rule's deprovision action (${action}) is planned for its object in ${target} and waits for an export run.${waiting}`
          : `${scope.reason} Its object in ${target} is still linked: the rule's deprovision action (${action}) applies at the next sync that plans it.${waiting}`,
      };
    }
    return { state: scope.state ?? "OUT_OF_SCOPE", reason: `${scope.reason} Nothing is provisioned to ${target} by it.` };
  }
  if (pendingCreate || cso?.anchor.startsWith("pending:"))
    return {
      state: "CREATE_PENDING",
      reason: `${scope.reason} Its CREATE in ${target} is planned and waits for an export run.${waiting}`,
    };
  if (cso?.join_type === "PROVISIONED")
    return {
      state: "PROVISIONED",
      reason: `${scope.reason} Provisioned to ${target} by this rule; kept in step by its flows.${waiting}`,
    };
  if (cso)
    return {
      state: "JOINED",
      reason: `${scope.reason} Joined to an existing object of ${target} (${cso.join_type ?? "linked"}); kept in step by the rule's flows.${waiting}`,
    };
  if (!rule.provision_to_connector)
    return {
      state: "NOT_PROVISIONING",
      reason: `${scope.reason} The rule does not provision (provisionToConnector is off) and no object of ${target} is joined to this identity.`,
    };
  return {
    state: "NOT_PLANNED",
    reason: `${scope.reason} Not in ${target} yet and no CREATE is planned: the next full sync of a source system plans it.`,
  };
}
