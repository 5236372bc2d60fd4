/**
 * Export: CREATE as POST, UPDATE as PATCH operations derived from the attribute changes (PUT of
 * the merged resource where the service has no PATCH), DELETE as DELETE; through /Bulk when the
 * service advertises it and the config allows, else `concurrency` requests in flight. Groups go
 * after every other resource of the batch, so the members they name exist first. One result per
 * change; a failure never throws for the batch.
 */
import { applyAttributeChanges } from "../attribute-changes.ts";
import type { AttributeChange, Attributes, AttributeValue, ExportChange, ExportResult } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import type { ScimClient } from "./client.ts";
import type { ScimConfig } from "./config.ts";
import { httpError, type ScimErrorBody } from "./errors.ts";
import type { MemberKeys } from "./members.ts";
import { CORE_GROUP, type ResourceTypeInfo, type ScimModel } from "./model.ts";
import { addingMissingItems, PATCH_OP, type PatchOperation, patchOperations } from "./patch.ts";
import { inPool } from "./pool.ts";
import { coerce, flatten, toResource } from "./resources.ts";

export interface ExportDeps {
  client: ScimClient;
  config: ScimConfig;
  model: () => Promise<ScimModel>;
  members: MemberKeys;
}

const BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/** Operations per /Bulk request at most, whatever the service allows: keeps one failed request cheap. */
const BULK_CHUNK = 200;

function invalid(message: string): ConnectorError {
  return new ConnectorError("INVALID_INPUT", message, false);
}

function failure(change: ExportChange, err: unknown): ExportResult {
  const e =
    err instanceof ConnectorError
      ? err
      : new ConnectorError("INTERNAL", `${change.changeType} ${change.anchor ?? change.id}: ${String(err)}`, false);
  return { id: change.id, status: e.transient ? "TRANSIENT_FAILURE" : "PERMANENT_FAILURE", code: e.code, message: e.message };
}

/** What a CREATE writes: ADD and REPLACE values per attribute (removals mean nothing on a new resource). */
function createAttributes(changes: AttributeChange[]): Attributes {
  const out: Record<string, AttributeValue[]> = {};
  for (const a of changes) {
    if (a.operation === "REMOVE" || a.operation === "REMOVE_ALL") continue;
    out[a.attribute] = a.operation === "REPLACE" ? [...a.values] : [...(out[a.attribute] ?? []), ...a.values];
  }
  return out;
}

class Exporter {
  constructor(
    private readonly deps: ExportDeps,
    private readonly model: ScimModel,
  ) {}

  resourceType(change: ExportChange): ResourceTypeInfo {
    const endpoint = this.deps.config.objectTypes[change.objectType];
    if (!endpoint) throw invalid(`object type "${change.objectType}" is not in config.objectTypes`);
    return this.model.resourceType(endpoint);
  }

  isGroup(change: ExportChange): boolean {
    const endpoint = this.deps.config.objectTypes[change.objectType];
    if (!endpoint) return false;
    const rt = this.model.resourceType(endpoint);
    return rt.schema === CORE_GROUP || rt.endpoint.toLowerCase() === "/groups";
  }

  private learn(rt: ResourceTypeInfo, id: string, externalId: unknown) {
    if (rt.endpoint.toLowerCase() === "/users")
      this.deps.members.learn(id, Array.isArray(externalId) ? externalId[0] : externalId);
  }

  /** `members` values (keys) -> service ids; keys of no member yet are returned as missing. */
  async resolveMembers(attributes: Attributes): Promise<string[]> {
    const values = attributes.members;
    if (values === undefined || values === null) return [];
    const { ids, missing } = await this.deps.members.idsOf((Array.isArray(values) ? values : [values]).map(String));
    attributes.members = ids;
    return missing;
  }

  async resolveMemberChanges(changes: AttributeChange[]): Promise<{ changes: AttributeChange[]; missing: string[] }> {
    const missing: string[] = [];
    const out: AttributeChange[] = [];
    for (const c of changes) {
      if (c.attribute !== "members" || c.values.length === 0) {
        out.push(c);
        continue;
      }
      const found = await this.deps.members.idsOf(c.values.map(String));
      // A member that cannot be found cannot be removed either: only missing additions matter.
      if (c.operation === "ADD" || c.operation === "REPLACE") missing.push(...found.missing);
      if (found.ids.length || c.operation === "REPLACE") out.push({ ...c, values: found.ids });
    }
    return { changes: out, missing };
  }

  async create(change: ExportChange): Promise<ExportResult> {
    const rt = this.resourceType(change);
    const attributes = createAttributes(change.attributes);
    const missing = await this.resolveMembers(attributes);
    const body = toResource(this.model, rt, attributes);
    let id: string;
    try {
      const created = await this.deps.client.request("POST", rt.endpoint, { body });
      id = String(created.body?.id ?? "");
      if (!id) throw new ConnectorError("INTERNAL", `POST ${rt.endpoint} answered without an id`, false);
    } catch (err) {
      if (!(err instanceof ConnectorError) || err.code !== "ALREADY_EXISTS") throw err;
      id = await this.reconcile(rt, attributes, err);
    }
    this.learn(rt, id, attributes.externalId);
    return this.withMissing(change, { id: change.id, status: "APPLIED", anchor: id }, missing);
  }

  private withMissing(change: ExportChange, applied: ExportResult, missing: string[]): ExportResult {
    if (!missing.length) return applied;
    // Retried later (as a CREATE that meets the group, or the same UPDATE): the members may exist by then.
    return {
      id: change.id,
      status: "TRANSIENT_FAILURE",
      code: "NOT_FOUND",
      message: `members not found yet: ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ` and ${missing.length - 5} more` : ""}`,
    };
  }

  /**
   * A CREATE that met an existing resource (409 uniqueness): find it by externalId, then by
   * userName (displayName for groups), write only what differs, and answer with its id, as the
   * CREATE would have. Not found (the clash is with something we cannot see): the 409 stands.
   */
  private async reconcile(rt: ResourceTypeInfo, attributes: Attributes, clash: ConnectorError): Promise<string> {
    if (!this.model.features.filter.supported) throw clash;
    const keys = ["externalId", "userName", "displayName"].filter((k) => {
      const v = attributes[k];
      return v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0);
    });
    for (const key of keys) {
      const raw = attributes[key];
      const value = String(Array.isArray(raw) ? raw[0] : raw);
      const { body } = await this.deps.client.request<{ Resources?: Record<string, unknown>[] }>("GET", rt.endpoint, {
        query: { filter: `${key} eq ${JSON.stringify(value)}`, count: 2 },
      });
      const found = body?.Resources ?? [];
      if (found.length !== 1 || typeof found[0]?.id !== "string") continue;
      const existing = found[0];
      const current = flatten(existing);
      const differences: AttributeChange[] = [];
      for (const [name, wanted] of Object.entries(attributes)) {
        if (name === "id") continue;
        const want = (Array.isArray(wanted) ? wanted : wanted === null ? [] : [wanted]).map((v) =>
          String(coerce(this.model, rt, name, v)),
        );
        const held = current[name];
        const have = (Array.isArray(held) ? held : held === undefined || held === null ? [] : [held]).map(String);
        const haveSet = new Set(have);
        const same = want.length === have.length && want.every((v) => haveSet.has(v));
        if (!same)
          differences.push({ attribute: name, operation: "REPLACE", values: want.length ? (wanted as AttributeValue[]) : [] });
      }
      if (differences.length) await this.modify(rt, existing.id as string, differences, existing);
      return existing.id as string;
    }
    throw clash;
  }

  async update(change: ExportChange): Promise<ExportResult> {
    const rt = this.resourceType(change);
    const id = change.anchor;
    if (!id) throw invalid("UPDATE needs the anchor (the resource id)");
    const { changes, missing } = await this.resolveMemberChanges(change.attributes);
    await this.modify(rt, id, changes);
    return this.withMissing(change, { id: change.id, status: "APPLIED", anchor: id }, missing);
  }

  /** PATCH when the service has it (again with adds for value paths it has no item for), else PUT. */
  private async modify(rt: ResourceTypeInfo, id: string, changes: AttributeChange[], current?: Record<string, unknown>) {
    const path = `${rt.endpoint}/${encodeURIComponent(id)}`;
    if (this.model.features.patch) {
      const ops = patchOperations(this.model, rt, changes);
      if (!ops.length) return;
      try {
        await this.deps.client.request("PATCH", path, { body: { schemas: [PATCH_OP], Operations: ops } });
      } catch (err) {
        if (!(err instanceof ConnectorError) || !err.message.includes("(noTarget)")) throw err;
        const resource = current ?? (await this.deps.client.request("GET", path)).body;
        const retried = addingMissingItems(ops, resource);
        await this.deps.client.request("PATCH", path, { body: { schemas: [PATCH_OP], Operations: retried } });
      }
      return;
    }
    const resource = current ?? (await this.deps.client.request("GET", path)).body;
    const merged = applyAttributeChanges(flatten(resource), changes, (name) => this.model.isMultiValued(rt, name));
    await this.deps.client.request("PUT", path, { body: { ...toResource(this.model, rt, merged), id } });
  }

  async remove(change: ExportChange): Promise<ExportResult> {
    const rt = this.resourceType(change);
    const id = change.anchor;
    if (!id) throw invalid("DELETE needs the anchor (the resource id)");
    // Already gone is what a delete wants (e.g. a retry after a lost reply).
    await this.deps.client.request("DELETE", `${rt.endpoint}/${encodeURIComponent(id)}`, { accept: [404] });
    if (rt.endpoint.toLowerCase() === "/users") this.deps.members.forget(id);
    return { id: change.id, status: "APPLIED", anchor: id };
  }

  async applyOne(change: ExportChange): Promise<ExportResult> {
    try {
      switch (change.changeType) {
        case "CREATE":
          return await this.create(change);
        case "UPDATE":
          return await this.update(change);
        case "DELETE":
          return await this.remove(change);
      }
      throw invalid(`unknown change type ${String(change.changeType)}`);
    } catch (err) {
      return failure(change, err);
    }
  }

  /** One at a time per resource (same anchor), `concurrency` resources in flight. */
  async applyEach(changes: ExportChange[], results: Map<string, ExportResult>) {
    const groups = new Map<string, ExportChange[]>();
    for (const c of changes) {
      const key = c.anchor ?? c.id;
      const group = groups.get(key);
      if (group) group.push(c);
      else groups.set(key, [c]);
    }
    await inPool([...groups.values()], this.deps.config.concurrency, async (group) => {
      for (const c of group) results.set(c.id, await this.applyOne(c));
    });
  }

  /**
   * The changes /Bulk can carry, sent in chunks (RFC 7644 3.7); answers the changes it could
   * not settle (a 409 to reconcile, a throttled operation, members not there yet) for applyEach.
   */
  async applyBulk(changes: ExportChange[], results: Map<string, ExportResult>): Promise<ExportChange[]> {
    const rest: ExportChange[] = [];
    const seen = new Set<string>();
    type Op = { change: ExportChange; rt: ResourceTypeInfo; op: Record<string, unknown>; size: number; externalId?: unknown };
    const ops: Op[] = [];
    for (const change of changes) {
      try {
        // Later changes to a resource already in the batch go after it, one by one.
        if (change.anchor && seen.has(change.anchor)) {
          rest.push(change);
          continue;
        }
        if (change.anchor) seen.add(change.anchor);
        const rt = this.resourceType(change);
        const bulkId = `b${ops.length}`;
        let op: Record<string, unknown>;
        let externalId: unknown;
        if (change.changeType === "CREATE") {
          const attributes = createAttributes(change.attributes);
          if ((await this.resolveMembers(attributes)).length) {
            rest.push(change);
            continue;
          }
          externalId = attributes.externalId;
          op = { method: "POST", path: rt.endpoint, bulkId, data: toResource(this.model, rt, attributes) };
        } else {
          if (!change.anchor) throw invalid(`${change.changeType} needs the anchor (the resource id)`);
          const path = `${rt.endpoint}/${encodeURIComponent(change.anchor)}`;
          if (change.changeType === "DELETE") op = { method: "DELETE", path, bulkId };
          else {
            const { changes: resolved, missing } = await this.resolveMemberChanges(change.attributes);
            if (missing.length || !this.model.features.patch) {
              rest.push(change);
              continue;
            }
            const operations: PatchOperation[] = patchOperations(this.model, rt, resolved);
            if (!operations.length) {
              results.set(change.id, { id: change.id, status: "APPLIED", anchor: change.anchor });
              continue;
            }
            op = { method: "PATCH", path, bulkId, data: { schemas: [PATCH_OP], Operations: operations } };
          }
        }
        ops.push({ change, rt, op, size: JSON.stringify(op).length, externalId });
      } catch (err) {
        results.set(change.id, failure(change, err));
      }
    }
    const { maxOperations, maxPayloadSize } = this.model.features.bulk;
    const limit = Math.max(1, Math.min(maxOperations || BULK_CHUNK, BULK_CHUNK));
    // Leave room for the envelope; a service without a size limit still gets bounded requests.
    const bytes = maxPayloadSize ? maxPayloadSize * 0.9 : 1_000_000;
    const chunks: Op[][] = [];
    let chunk: Op[] = [];
    let size = 0;
    for (const op of ops) {
      if (chunk.length && (chunk.length >= limit || size + op.size > bytes)) {
        chunks.push(chunk);
        chunk = [];
        size = 0;
      }
      chunk.push(op);
      size += op.size;
    }
    if (chunk.length) chunks.push(chunk);

    await inPool(chunks, this.deps.config.concurrency, async (chunk) => {
      let answer: { Operations?: Record<string, unknown>[] };
      try {
        answer = (
          await this.deps.client.request<{ Operations?: Record<string, unknown>[] }>("POST", "/Bulk", {
            body: { schemas: [BULK_REQUEST], Operations: chunk.map((o) => o.op) },
          })
        ).body;
      } catch (err) {
        // Refused as a whole (too large, not implemented after all): each change on its own.
        // Credentials, rights and transient trouble fail the chunk as they would each change.
        const e = err instanceof ConnectorError ? err : null;
        if (e && !e.transient && !["AUTH_FAILED", "PERMISSION_DENIED"].includes(e.code)) rest.push(...chunk.map((o) => o.change));
        else for (const o of chunk) results.set(o.change.id, failure(o.change, err));
        return;
      }
      const byBulkId = new Map<string, Record<string, unknown>>();
      for (const r of answer?.Operations ?? []) if (typeof r.bulkId === "string") byBulkId.set(r.bulkId, r);
      chunk.forEach((o, i) => {
        const r = byBulkId.get(o.op.bulkId as string) ?? answer?.Operations?.[i];
        this.settleBulk(o.change, o.rt, o.op, r, o.externalId, results, rest);
      });
    });
    return rest;
  }

  private settleBulk(
    change: ExportChange,
    rt: ResourceTypeInfo,
    op: Record<string, unknown>,
    r: Record<string, unknown> | undefined,
    externalId: unknown,
    results: Map<string, ExportResult>,
    rest: ExportChange[],
  ) {
    if (!r) {
      rest.push(change);
      return;
    }
    const raw = r.status as unknown;
    const status = Number(typeof raw === "object" && raw !== null ? (raw as { code?: unknown }).code : raw);
    if (status >= 200 && status < 300) {
      const response = r.response as Record<string, unknown> | undefined;
      const location = typeof r.location === "string" ? r.location : "";
      const id = change.anchor ?? String(response?.id ?? decodeURIComponent(location.split("/").pop() ?? ""));
      if (change.changeType === "CREATE") this.learn(rt, id, Array.isArray(externalId) ? externalId[0] : externalId);
      if (change.changeType === "DELETE" && rt.endpoint.toLowerCase() === "/users") this.deps.members.forget(id);
      results.set(change.id, { id: change.id, status: "APPLIED", anchor: id });
      return;
    }
    if (change.changeType === "DELETE" && status === 404) {
      results.set(change.id, { id: change.id, status: "APPLIED", anchor: change.anchor });
      return;
    }
    // Reconciled, re-sent with its Retry-After honoured, or given its noTarget fallback one by one.
    const body = (r.response ?? null) as ScimErrorBody | null;
    if (status === 409 || status === 429 || status === 503 || body?.scimType === "noTarget") {
      rest.push(change);
      return;
    }
    results.set(change.id, failure(change, httpError(status, body, `${op.method} ${op.path} (bulk)`)));
  }
}

export async function exportChanges(deps: ExportDeps, changes: ExportChange[]): Promise<ExportResult[]> {
  let model: ScimModel;
  try {
    // Reading the service's features first also checks the credentials: a wrong token fails the
    // batch with one error instead of one 401 per change.
    model = await deps.model();
  } catch (err) {
    return changes.map((c) => failure(c, err));
  }
  const exporter = new Exporter(deps, model);
  const results = new Map<string, ExportResult>();
  const useBulk = deps.config.useBulk && model.features.bulk.supported && model.features.bulk.maxOperations !== 1;
  // Groups last: the members they name are created earlier in the same batch.
  const phases = [changes.filter((c) => !exporter.isGroup(c)), changes.filter((c) => exporter.isGroup(c))];
  for (const phase of phases) {
    if (!phase.length) continue;
    const single = useBulk ? await exporter.applyBulk(phase, results) : phase;
    const pending = single.filter((c) => !results.has(c.id) || results.get(c.id)?.status !== "APPLIED");
    await exporter.applyEach(pending, results);
  }
  return changes.map(
    (c) => results.get(c.id) ?? { id: c.id, status: "TRANSIENT_FAILURE", code: "INTERNAL", message: "not attempted" },
  );
}
