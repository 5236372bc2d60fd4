/**
 * The resources a SCIM_INBOUND system serves, as scimmy schema classes of its own: core User with
 * the enterprise extension, and core Group. scimmy's own Schemas.User and Resources are module-wide
 * singletons (handlers, extensions, base paths); copies keep every system, and any scimmy server
 * in the same process, apart. scimmy validates and coerces bodies, applies PATCH operations and
 * matches filters; this file only wires its parts.
 */
import SCIMMY from "scimmy";
import type { DiscoveredSchema } from "../connector.ts";
import { CORE_GROUP, CORE_USER, describeModel, ENTERPRISE_USER, type SchemaAttribute, ScimModel } from "../scim/model.ts";

type Definition = InstanceType<typeof SCIMMY.Types.SchemaDefinition>;
type Json = Record<string, unknown>;

/** The stored resource (JSON text) in each connector space object: what GET answers from. */
export const RESOURCE_ATTRIBUTE = "scimResource";

function copyOf(definition: Definition, description: string): Definition {
  const own = definition.attributes.filter(
    (a): a is InstanceType<typeof SCIMMY.Types.Attribute> =>
      a instanceof SCIMMY.Types.Attribute && !(a as unknown as { config: { shadow?: boolean } }).config.shadow,
  );
  return new SCIMMY.Types.SchemaDefinition(definition.name, definition.id, description, own);
}

const userDefinition = copyOf(SCIMMY.Schemas.User.definition, "User Account").extend(
  SCIMMY.Schemas.EnterpriseUser.definition,
  false,
);
const groupDefinition = copyOf(SCIMMY.Schemas.Group.definition, "Group");

/** A schema class over one definition (what scimmy's PatchOp and coercion expect). */
function schemaClass(definition: Definition) {
  return class extends SCIMMY.Types.Schema {
    static get id() {
      return definition.id;
    }
    static get definition() {
      return definition;
    }
    constructor(resource: Json, direction = "both", basepath?: string, filters?: unknown) {
      super(resource, direction);
      Object.assign(
        this,
        (definition as unknown as { coerce(...a: unknown[]): Json }).coerce(resource, direction, basepath, filters),
      );
    }
  };
}

export type ScimSchemaClass = ReturnType<typeof schemaClass>;

export interface ResourceKind {
  /** "User" or "Group": meta.resourceType and the /ResourceTypes id. */
  name: "User" | "Group";
  endpoint: "Users" | "Groups";
  schema: ScimSchemaClass;
  definition: Definition;
  extensions: string[];
}

export const USER: ResourceKind = {
  name: "User",
  endpoint: "Users",
  schema: schemaClass(userDefinition),
  definition: userDefinition,
  extensions: [ENTERPRISE_USER],
};
export const GROUP: ResourceKind = {
  name: "Group",
  endpoint: "Groups",
  schema: schemaClass(groupDefinition),
  definition: groupDefinition,
  extensions: [],
};
export const RESOURCE_KINDS = [USER, GROUP];

/** What /ServiceProviderConfig says (RFC 7643 5): PATCH, filter and ETag-less, no bulk, no sort. */
export function serviceProviderConfig(base: string, maxResults: number): Json {
  return {
    schemas: ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
    documentationUri: "https://github.com/metasync/metasync#scim-service-provider",
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: false },
    authenticationSchemes: [
      {
        type: "oauthbearertoken",
        name: "Bearer token",
        description: "Authorization: Bearer <the system's bearerToken>",
        primary: true,
      },
    ],
    meta: { resourceType: "ServiceProviderConfig", location: `${base}/ServiceProviderConfig` },
  };
}

export function resourceTypeDocument(kind: ResourceKind, base: string): Json {
  return {
    schemas: ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
    id: kind.name,
    name: kind.name,
    endpoint: `/${kind.endpoint}`,
    description: kind.definition.description,
    schema: kind.definition.id,
    schemaExtensions: kind.extensions.map((schema) => ({ schema, required: false })),
    meta: { resourceType: "ResourceType", location: `${base}/ResourceTypes/${kind.name}` },
  };
}

/** Every schema the resource types use (core and extensions), as /Schemas lists them. */
export function schemaDocuments(base: string): Json[] {
  const definitions = [userDefinition, SCIMMY.Schemas.EnterpriseUser.definition, groupDefinition];
  // JSON round trip: scimmy's Attribute instances serialise to RFC 7643 attribute definitions.
  return definitions.map((d) => JSON.parse(JSON.stringify(d.describe(`${base}/Schemas`))) as Json);
}

/** The discovered schema: the same flat attribute names as the SCIM connector's import, plus the stored resource. */
export function inboundSchema(objectTypes: { user: string; group: string }): DiscoveredSchema {
  const byId = new Map<string, SchemaAttribute[]>();
  for (const doc of schemaDocuments("")) byId.set(String(doc.id), doc.attributes as SchemaAttribute[]);
  const model = new ScimModel(
    {
      patch: true,
      bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
      filter: { supported: true, maxResults: 0 },
      cursor: false,
    },
    RESOURCE_KINDS.map((k) => ({ name: k.name, endpoint: `/${k.endpoint}`, schema: k.definition.id, extensions: k.extensions })),
    byId,
  );
  const described = describeModel(model, { [objectTypes.user]: "Users", [objectTypes.group]: "Groups" });
  for (const type of described.objectTypes)
    type.attributes.push({ name: RESOURCE_ATTRIBUTE, type: "STRING", multiValued: false, required: false });
  return described;
}

export { CORE_GROUP, CORE_USER };
