/**
 * The SCIM 2.0 operations (RFC 7644 3.3-3.6) of one SCIM_INBOUND system, on its resources as
 * store.ts reads and writes them. scimmy validates and coerces bodies, applies PATCH operations
 * (value-filter paths included) and matches filters; failures are scimmy's SCIMError (status and
 * scimType), which the route answers as RFC 7644 3.12 errors.
 */

import { randomUUID } from "node:crypto";
import type pg from "pg";
import SCIMMY from "scimmy";
import { flatten } from "../../connectors/scim/resources.ts";
import type { ScimInboundConfig } from "../../connectors/scim-inbound/config.ts";
import { RESOURCE_ATTRIBUTE, type ResourceKind, USER } from "../../connectors/scim-inbound/schemas.ts";
import type { PushedRecord } from "../../engine/realtime/inbox-store.ts";
import type { InboxWakeup } from "../inbox-wakeup.ts";
import { existingIds, type Json, readResources, writeLocked } from "./store.ts";

const ScimError = SCIMMY.Types.Error;
const LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/** `userName eq "x"` alone: answered by the store's case-insensitive lookup (what a client's existence check sends). */
const USERNAME_EQ = /^\s*userName\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$/i;

export interface ScimProviderTarget {
  systemId: string;
  config: ScimInboundConfig;
}

/** Query parameters of a GET (RFC 7644 3.4.2), as strings. */
export type ListParams = Partial<Record<"filter" | "attributes" | "excludedAttributes" | "startIndex" | "count", string>>;

/** scimmy raises TypeError for a body that does not fit the schema (a missing userName, a wrong type). */
function scimErrorOf(e: unknown): never {
  if (e instanceof TypeError) throw new ScimError(400, "invalidValue", e.message);
  throw e;
}

const notFound = (kind: ResourceKind, id: string) =>
  new ScimError(404, null as unknown as string, `${kind.name} ${id} not found`);

export class ScimProvider {
  constructor(
    private readonly pool: pg.Pool,
    /** Wakes the workers once a write has committed (see inbox-wakeup.ts). */
    private readonly wake: InboxWakeup,
    private readonly target: ScimProviderTarget,
    /** Absolute URL of /scim/v2/<system>, for meta.location. */
    private readonly base: string,
  ) {}

  objectType(kind: ResourceKind): string {
    return kind === USER ? this.target.config.userObjectType : this.target.config.groupObjectType;
  }

  private location(kind: ResourceKind) {
    return `${this.base}/${kind.endpoint}`;
  }

  /** A stored resource as answered, narrowed to `attributes` / `excludedAttributes` when asked. */
  private out(kind: ResourceKind, stored: Json, attributes?: unknown): Json {
    return JSON.parse(JSON.stringify(new kind.schema(stored, "out", this.location(kind), attributes))) as Json;
  }

  /** A request body validated and coerced (read-only attributes such as id and meta dropped, password never kept). */
  private inbound(kind: ResourceKind, body: unknown): Json {
    if (typeof body !== "object" || body === null || Array.isArray(body))
      throw new ScimError(400, "invalidSyntax", "the body must be one JSON object");
    try {
      const {
        meta: _meta,
        password: _password,
        ...rest
      } = JSON.parse(JSON.stringify(new kind.schema(body as Json, "in"))) as Json;
      return rest;
    } catch (e) {
      return scimErrorOf(e);
    }
  }

  private async checkMembers(q: pg.PoolClient | Pick<pg.PoolClient, "query">, kind: ResourceKind, resource: Json) {
    if (kind === USER || !Array.isArray(resource.members)) return;
    const ids = [...new Set((resource.members as Json[]).map((m) => String(m.value)))];
    const found = await existingIds(
      q,
      this.target.systemId,
      [this.target.config.userObjectType, this.target.config.groupObjectType],
      ids,
    );
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length)
      throw new ScimError(
        400,
        "invalidValue",
        `members refer to resources that do not exist here: ${missing.slice(0, 5).join(", ")}`,
      );
  }

  private async checkUnique(
    q: Pick<pg.PoolClient, "query">,
    kind: ResourceKind,
    resource: Json,
    lock: (k: string) => Promise<void>,
  ) {
    if (kind !== USER || typeof resource.userName !== "string") return;
    await lock(`userName:${resource.userName.toLowerCase()}`);
    const clash = await readResources(q, this.target.systemId, this.objectType(kind), { userName: resource.userName });
    if (clash.some((r) => r.id !== resource.id))
      throw new ScimError(409, "uniqueness", `userName ${JSON.stringify(resource.userName)} is already taken`);
  }

  private upsert(kind: ResourceKind, stored: Json): PushedRecord {
    // The flat attributes sync rules read (the SCIM connector's names), and the resource itself for GET.
    return {
      op: "upsert",
      objectType: this.objectType(kind),
      anchor: String(stored.id),
      attributes: { ...flatten(stored), [RESOURCE_ATTRIBUTE]: JSON.stringify(stored) },
    };
  }

  private stamp(kind: ResourceKind, id: string, body: Json, created?: string): Json {
    const now = new Date().toISOString();
    return { ...body, id, meta: { resourceType: kind.name, created: created ?? now, lastModified: now } };
  }

  /** POST (3.3): 201 with the resource; its id is new and is the connector-space anchor. */
  async create(kind: ResourceKind, body: unknown): Promise<Json> {
    const resource = this.inbound(kind, body);
    const stored = this.stamp(kind, randomUUID(), resource);
    return writeLocked(this.pool, this.wake, this.target.systemId, async (q, lock) => {
      await this.checkUnique(q, kind, stored, lock);
      await this.checkMembers(q, kind, stored);
      return { record: this.upsert(kind, stored), result: this.out(kind, stored) };
    });
  }

  private async current(q: Pick<pg.PoolClient, "query">, kind: ResourceKind, id: string): Promise<Json> {
    const [found] = await readResources(q, this.target.systemId, this.objectType(kind), { ids: [id] });
    if (!found) throw notFound(kind, id);
    return found;
  }

  /** PUT (3.5.1): the whole resource replaced; id and meta.created kept. */
  async replace(kind: ResourceKind, id: string, body: unknown): Promise<Json> {
    const resource = this.inbound(kind, body);
    return writeLocked(this.pool, this.wake, this.target.systemId, async (q, lock) => {
      await lock(`id:${id}`);
      const previous = await this.current(q, kind, id);
      const stored = this.stamp(kind, id, resource, (previous.meta as Json | undefined)?.created as string | undefined);
      await this.checkUnique(q, kind, stored, lock);
      await this.checkMembers(q, kind, stored);
      return { record: this.upsert(kind, stored), result: this.out(kind, stored) };
    });
  }

  /** PATCH (3.5.2): add / replace / remove, paths with value filters; an unchanged resource pushes nothing. */
  async patch(kind: ResourceKind, id: string, body: unknown): Promise<Json> {
    let message: InstanceType<typeof SCIMMY.Messages.PatchOp>;
    try {
      message = new SCIMMY.Messages.PatchOp(body as ConstructorParameters<typeof SCIMMY.Messages.PatchOp>[0]);
    } catch (e) {
      return scimErrorOf(e);
    }
    return writeLocked(this.pool, this.wake, this.target.systemId, async (q, lock) => {
      await lock(`id:${id}`);
      const previous = await this.current(q, kind, id);
      let patched: unknown;
      try {
        patched = await message.apply(new kind.schema(previous, "out"));
      } catch (e) {
        return scimErrorOf(e);
      }
      if (!patched) return { record: null, result: this.out(kind, previous) };
      const resource = this.inbound(kind, patched);
      const stored = this.stamp(kind, id, resource, (previous.meta as Json | undefined)?.created as string | undefined);
      await this.checkUnique(q, kind, stored, lock);
      await this.checkMembers(q, kind, stored);
      return { record: this.upsert(kind, stored), result: this.out(kind, stored) };
    });
  }

  /** DELETE (3.6). */
  async remove(kind: ResourceKind, id: string): Promise<void> {
    await writeLocked(this.pool, this.wake, this.target.systemId, async (q, lock) => {
      await lock(`id:${id}`);
      await this.current(q, kind, id);
      return { record: { op: "delete", objectType: this.objectType(kind), anchor: id }, result: undefined };
    });
  }

  /** GET by id (3.4.1). */
  async get(kind: ResourceKind, id: string, params: ListParams): Promise<Json> {
    const { attributes } = this.query(kind, { ...params, filter: undefined });
    return this.out(kind, await this.current(this.pool, kind, id), attributes);
  }

  /** Parsed filter and attribute selection (scimmy's Resource constructor parses them, nothing else). */
  private query(kind: ResourceKind, params: ListParams) {
    const config = Object.fromEntries(
      Object.entries({
        filter: params.filter,
        attributes: params.attributes,
        excludedAttributes: params.excludedAttributes,
      }).filter(([, v]) => v !== undefined),
    );
    const Resource = kind === USER ? SCIMMY.Resources.User : SCIMMY.Resources.Group;
    try {
      return new (Resource as unknown as new (c: object) => unknown)(config) as {
        filter?: InstanceType<typeof SCIMMY.Types.Filter>;
        attributes?: unknown;
      };
    } catch (e) {
      return scimErrorOf(e);
    }
  }

  /** GET with filter, startIndex/count (1-based, count capped at maxResults), attributes (3.4.2). */
  async list(kind: ResourceKind, params: ListParams): Promise<Json> {
    const startIndex = Math.max(1, integer(params.startIndex, "startIndex") ?? 1);
    const count = Math.min(
      Math.max(0, integer(params.count, "count") ?? this.target.config.maxResults),
      this.target.config.maxResults,
    );
    const { filter, attributes } = this.query(kind, params);
    const byName = kind === USER && params.filter ? USERNAME_EQ.exec(params.filter) : null;
    const stored = await readResources(this.pool, this.target.systemId, this.objectType(kind), {
      userName: byName ? (JSON.parse(`"${byName[1]}"`) as string) : undefined,
    });
    const matched = filter && !byName ? stored.filter((r) => matches(filter, r)) : stored;
    const page = matched.slice(startIndex - 1, startIndex - 1 + count);
    return {
      schemas: [LIST_RESPONSE],
      totalResults: matched.length,
      startIndex,
      itemsPerPage: page.length,
      Resources: page.map((r) => this.out(kind, r, attributes)),
    };
  }
}

/**
 * One resource against a parsed filter. scimmy's matcher throws (TypeError) when a filter dives
 * into a complex attribute the resource does not have (`emails[type eq "work"]` on a user without
 * emails): that resource does not match.
 */
function matches(filter: InstanceType<typeof SCIMMY.Types.Filter>, resource: Json): boolean {
  try {
    return filter.match([resource]).length > 0;
  } catch (e) {
    if (e instanceof TypeError) return false;
    throw e;
  }
}

function integer(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^-?\d+$/.test(value))
    throw new ScimError(400, "invalidValue", `${name} must be an integer, got ${JSON.stringify(value)}`);
  return Number(value);
}
