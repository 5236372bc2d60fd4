/**
 * Group members travel between the engine and the service as the member's key: its externalId
 * (the key the source system knows, e.g. the HR employee id) or, for a member without one, its
 * SCIM id. The service itself wants ids in `members[].value`; this maps both ways, with a cache
 * filled by imports and creates and filter lookups for the rest.
 */
import { ConnectorError } from "../connector.ts";
import type { ScimClient } from "./client.ts";
import type { ScimModel } from "./model.ts";

const LOOKUP_BATCH = 20;

export class MemberKeys {
  private readonly idByKey = new Map<string, string>();
  private readonly keyById = new Map<string, string>();

  constructor(
    private readonly client: ScimClient,
    private readonly model: () => Promise<ScimModel>,
    private readonly memberEndpoint = "/Users",
  ) {}

  /** Remember a member resource seen on import or export. */
  learn(id: string, externalId: unknown): void {
    const key = typeof externalId === "string" && externalId !== "" ? externalId : id;
    this.keyById.set(id, key);
    this.idByKey.set(key, id);
  }

  forget(id: string): void {
    const key = this.keyById.get(id);
    this.keyById.delete(id);
    if (key !== undefined && this.idByKey.get(key) === id) this.idByKey.delete(key);
  }

  /** Service ids -> keys, for import. Ids not found stay as they are (a member of another type). */
  async keysOf(ids: string[], signal?: AbortSignal): Promise<string[]> {
    const unknown = [...new Set(ids.filter((id) => !this.keyById.has(id)))];
    if (unknown.length) await this.lookup("id", unknown, signal);
    return ids.map((id) => this.keyById.get(id) ?? id);
  }

  /** Keys -> service ids, for export; `missing` are keys of no member (yet). */
  async idsOf(keys: string[]): Promise<{ ids: string[]; missing: string[] }> {
    const unknown = [...new Set(keys.filter((k) => !this.idByKey.has(k)))];
    if (unknown.length) await this.lookup("externalId", unknown);
    const stillUnknown = unknown.filter((k) => !this.idByKey.has(k));
    // A key may be an id already (a member without externalId, or a reference flow's anchor).
    if (stillUnknown.length) await this.lookup("id", stillUnknown);
    const ids: string[] = [];
    const missing: string[] = [];
    for (const k of keys) {
      const id = this.idByKey.get(k) ?? (this.keyById.has(k) ? k : undefined);
      if (id === undefined) missing.push(k);
      else ids.push(id);
    }
    return { ids, missing };
  }

  private async lookup(attribute: "id" | "externalId", values: string[], signal?: AbortSignal): Promise<void> {
    const model = await this.model();
    if (model.features.filter.supported) {
      try {
        return await this.lookupByFilter(attribute, values, signal);
      } catch (err) {
        // Some services filter on a few attributes only (a 400 for `id eq`): read one by one instead.
        if (
          !(err instanceof ConnectorError) ||
          err.transient ||
          !["INVALID_INPUT", "SCHEMA_VIOLATION", "UNSUPPORTED"].includes(err.code)
        )
          throw err;
      }
    }
    if (attribute === "id") {
      // One read per id.
      for (const id of values) {
        const { status, body } = await this.client.request("GET", `${this.memberEndpoint}/${encodeURIComponent(id)}`, {
          signal,
          // Not found, or not even the shape of an id here (a key that names no member).
          accept: [400, 404],
          query: { attributes: "id,externalId" },
        });
        if (status === 200 && typeof body?.id === "string") this.learn(body.id, body.externalId);
      }
    }
  }

  private async lookupByFilter(attribute: "id" | "externalId", values: string[], signal?: AbortSignal): Promise<void> {
    for (let i = 0; i < values.length; i += LOOKUP_BATCH) {
      const batch = values.slice(i, i + LOOKUP_BATCH);
      const filter = batch.map((v) => `${attribute} eq ${JSON.stringify(v)}`).join(" or ");
      const { body } = await this.client.request<{ Resources?: Record<string, unknown>[] }>("GET", this.memberEndpoint, {
        signal,
        query: { filter, attributes: "id,externalId", count: batch.length * 2 },
      });
      for (const r of body?.Resources ?? []) if (typeof r.id === "string") this.learn(r.id, r.externalId);
    }
  }
}
