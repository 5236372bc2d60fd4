/**
 * What a SCIM service says about itself (RFC 7643 5-7): features from /ServiceProviderConfig,
 * resource types from /ResourceTypes, attributes from /Schemas. Services that do not publish
 * /Schemas (or publish less) are read with the core schema's shapes below.
 */
import type { DiscoveredAttribute, DiscoveredObjectType, DiscoveredSchema } from "../connector.ts";
import type { ScimClient } from "./client.ts";

export interface SchemaAttribute {
  name: string;
  type: string;
  multiValued: boolean;
  required: boolean;
  mutability?: string;
  canonicalValues?: string[];
  subAttributes?: SchemaAttribute[];
}

export interface ResourceTypeInfo {
  name: string;
  endpoint: string;
  schema: string;
  extensions: string[];
}

export interface ServiceFeatures {
  patch: boolean;
  bulk: { supported: boolean; maxOperations: number; maxPayloadSize: number };
  filter: { supported: boolean; maxResults: number };
  /** RFC 9865 cursor pagination advertised (`pagination.cursor`). */
  cursor: boolean;
}

export const CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User";
export const CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
export const ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

// The core schema's multi-valued complex and complex attributes, for services without /Schemas.
const CORE_MULTI_COMPLEX = new Set([
  "emails",
  "phonenumbers",
  "ims",
  "photos",
  "addresses",
  "entitlements",
  "roles",
  "x509certificates",
  "members",
  "groups",
]);
const CORE_COMPLEX = new Set(["name", "manager"]);
const CORE_BOOLEAN = new Set(["active"]);
/** Multi-valued complex attributes whose items are references, never split by `type`. */
export const LIST_ATTRIBUTES = new Set(["members", "groups"]);

const FALLBACK_TYPES: Record<string, ResourceTypeInfo> = {
  users: { name: "User", endpoint: "/Users", schema: CORE_USER, extensions: [ENTERPRISE_USER] },
  groups: { name: "Group", endpoint: "/Groups", schema: CORE_GROUP, extensions: [] },
};

/** A flat attribute name taken apart: [urn:]attr[[type eq "t"]][.sub]. */
export interface AttributePath {
  urn?: string;
  attr: string;
  type?: string;
  sub?: string;
}

const PATH = /^(?:(urn:[^[\]"]+):)?([A-Za-z$][\w$-]*)(?:\[type eq "((?:[^"\\]|\\.)*)"\])?(?:\.([A-Za-z$][\w$-]*))?$/;

export function parsePath(name: string): AttributePath | null {
  const m = PATH.exec(name);
  if (!m) return null;
  const type = m[3] === undefined ? undefined : (JSON.parse(`"${m[3]}"`) as string);
  return { urn: m[1], attr: m[2] as string, type, sub: m[4] };
}

/** `attr[type eq "t"].sub` with the type quoted as a SCIM filter string. */
export function typedPath(attr: string, type: string, sub: string, urn?: string): string {
  return `${urn ? `${urn}:` : ""}${attr}[type eq ${JSON.stringify(type)}].${sub}`;
}

export class ScimModel {
  constructor(
    readonly features: ServiceFeatures,
    readonly resourceTypes: ResourceTypeInfo[],
    readonly schemas: Map<string, SchemaAttribute[]>,
  ) {}

  /** The resource type served at `endpoint` ("Users"), from /ResourceTypes or the core fallback. */
  resourceType(endpoint: string): ResourceTypeInfo {
    const wanted = `/${endpoint}`.toLowerCase();
    return (
      this.resourceTypes.find((r) => r.endpoint.toLowerCase() === wanted) ??
      FALLBACK_TYPES[endpoint.toLowerCase()] ?? { name: endpoint, endpoint: `/${endpoint}`, schema: "", extensions: [] }
    );
  }

  /** The schema attribute a flat path starts at, looked up in the resource type's core schema or extensions. */
  attribute(rt: ResourceTypeInfo, path: AttributePath): SchemaAttribute | undefined {
    const lists = path.urn ? [this.schemas.get(path.urn)] : [this.schemas.get(rt.schema)];
    const name = path.attr.toLowerCase();
    for (const list of lists) {
      const found = list?.find((a) => a.name.toLowerCase() === name);
      if (found) return found;
    }
    return undefined;
  }

  isMultiComplex(rt: ResourceTypeInfo, path: AttributePath): boolean {
    const a = this.attribute(rt, path);
    return a ? a.multiValued && a.type === "complex" : !path.urn && CORE_MULTI_COMPLEX.has(path.attr.toLowerCase());
  }

  isComplex(rt: ResourceTypeInfo, path: AttributePath): boolean {
    const a = this.attribute(rt, path);
    return a ? a.type === "complex" : CORE_COMPLEX.has(path.attr.toLowerCase()) || this.isMultiComplex(rt, path);
  }

  /** Is the flat attribute multi-valued as the engine sees it (a list of values)? */
  isMultiValued(rt: ResourceTypeInfo, name: string): boolean {
    const path = parsePath(name);
    if (!path) return true;
    if (path.type !== undefined) return false;
    const a = this.attribute(rt, path);
    if (path.sub) return this.isMultiComplex(rt, path);
    return a ? a.multiValued : CORE_MULTI_COMPLEX.has(path.attr.toLowerCase());
  }

  /** The SCIM type of the value a flat path holds (boolean, integer, string...); "any" when unknown. */
  valueType(rt: ResourceTypeInfo, name: string): string {
    const path = parsePath(name);
    if (!path) return "any";
    const a = this.attribute(rt, path);
    // Not published: core booleans are known, anything else is sent as the engine holds it.
    if (!a)
      return (!path.urn && !path.sub && CORE_BOOLEAN.has(path.attr.toLowerCase())) || path.sub === "primary" ? "boolean" : "any";
    const sub = path.sub ?? (a.type === "complex" ? "value" : undefined);
    if (!sub) return a.type;
    return a.subAttributes?.find((s) => s.name.toLowerCase() === sub.toLowerCase())?.type ?? "string";
  }
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {});
const list = (v: unknown): Json[] => (Array.isArray(v) ? v.map(obj) : []);

/** Reads the three discovery endpoints; a service without /Schemas or /ResourceTypes gets the core shapes. */
export async function loadModel(client: ScimClient, signal?: AbortSignal): Promise<ScimModel> {
  const spc = obj((await client.request("GET", "/ServiceProviderConfig", { signal })).body);
  const feature = (name: string) => obj(spc[name]);
  const features: ServiceFeatures = {
    patch: feature("patch").supported === true,
    bulk: {
      supported: feature("bulk").supported === true,
      maxOperations: Number(feature("bulk").maxOperations) || 0,
      maxPayloadSize: Number(feature("bulk").maxPayloadSize) || 0,
    },
    filter: { supported: feature("filter").supported === true, maxResults: Number(feature("filter").maxResults) || 0 },
    cursor: feature("pagination").cursor === true,
  };
  const resources = (path: string) =>
    client
      .request("GET", path, { signal, accept: [404, 501] })
      .then((r) => (r.status === 200 ? list(obj(r.body).Resources) : []));
  const [types, schemas] = await Promise.all([resources("/ResourceTypes"), resources("/Schemas")]);
  const resourceTypes: ResourceTypeInfo[] = types
    .filter((t) => typeof t.endpoint === "string")
    .map((t) => ({
      name: String(t.name ?? t.id ?? t.endpoint),
      endpoint: String(t.endpoint),
      schema: String(t.schema ?? ""),
      extensions: list(t.schemaExtensions).map((e) => String(e.schema)),
    }));
  const byId = new Map<string, SchemaAttribute[]>();
  for (const s of schemas)
    if (typeof s.id === "string" && Array.isArray(s.attributes)) byId.set(s.id, s.attributes as SchemaAttribute[]);
  return new ScimModel(features, resourceTypes, byId);
}

const TYPE_MAP: Record<string, DiscoveredAttribute["type"]> = {
  string: "STRING",
  boolean: "BOOLEAN",
  integer: "INTEGER",
  decimal: "STRING",
  dateTime: "DATETIME",
  binary: "BINARY",
  reference: "STRING",
};

/** Flat attributes of one schema (prefixed with its URN for an extension), as import names them. */
function flatAttributes(attributes: SchemaAttribute[], urn?: string): DiscoveredAttribute[] {
  const prefix = urn ? `${urn}:` : "";
  const out: DiscoveredAttribute[] = [];
  for (const a of attributes) {
    if (a.mutability === "writeOnly" || a.mutability === "readOnly") continue;
    const type = TYPE_MAP[a.type] ?? "STRING";
    if (a.type !== "complex") {
      out.push({ name: `${prefix}${a.name}`, type, multiValued: a.multiValued, required: a.required && !urn });
      continue;
    }
    const subs = (a.subAttributes ?? []).filter((s) => s.mutability !== "readOnly" && s.name !== "type");
    if (!a.multiValued) {
      for (const s of subs)
        out.push({
          name: `${prefix}${a.name}.${s.name}`,
          type: TYPE_MAP[s.type] ?? "STRING",
          multiValued: false,
          required: false,
        });
      continue;
    }
    // members (and any list without a type): the values, one per item.
    out.push({
      name: `${prefix}${a.name}`,
      type: LIST_ATTRIBUTES.has(a.name.toLowerCase()) ? "REFERENCE" : "STRING",
      multiValued: true,
      required: false,
    });
    if (LIST_ATTRIBUTES.has(a.name.toLowerCase())) continue;
    const kinds = a.subAttributes?.find((s) => s.name === "type")?.canonicalValues ?? [];
    for (const kind of kinds)
      for (const s of subs)
        out.push({
          name: typedPath(a.name, kind, s.name, urn),
          type: TYPE_MAP[s.type] ?? "STRING",
          multiValued: false,
          required: false,
        });
  }
  return out;
}

export function describeModel(model: ScimModel, objectTypes: Record<string, string>): DiscoveredSchema {
  const types: DiscoveredObjectType[] = Object.entries(objectTypes).map(([name, endpoint]) => {
    const rt = model.resourceType(endpoint);
    const attributes: DiscoveredAttribute[] = [
      { name: "id", type: "STRING", multiValued: false, required: true },
      { name: "externalId", type: "STRING", multiValued: false, required: false },
      ...flatAttributes(model.schemas.get(rt.schema) ?? []),
      ...rt.extensions.flatMap((urn) => flatAttributes(model.schemas.get(urn) ?? [], urn)),
    ];
    return { name, anchorAttribute: "id", attributes };
  });
  return { objectTypes: types };
}
