/**
 * SCIM resources <-> flat attributes, the engine's form. A resource's attributes are named by
 * their SCIM paths (RFC 7644 3.10), so a sync rule writes what the service documents:
 *
 *   userName, active, externalId                       simple
 *   name.givenName                                     sub-attribute of a complex attribute
 *   emails[type eq "work"].value                        a typed item of a multi-valued attribute
 *   emails, members                                    the values of items without a type (lists)
 *   urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department   an extension's attribute
 *
 * Read-only bookkeeping (schemas, meta, a user's groups) is not imported; `id` is the anchor.
 */
import type { Attributes, AttributeValue } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import { LIST_ATTRIBUTES, parsePath, type ResourceTypeInfo, type ScimModel, typedPath } from "./model.ts";

type Json = Record<string, unknown>;
const SKIPPED = new Set(["schemas", "meta", "groups", "password"]);

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function scalar(v: unknown): v is AttributeValue {
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean";
}

/** One resource as flat attributes (see the file comment). */
export function flatten(resource: Json): Attributes {
  const out: Record<string, AttributeValue[]> = {};
  const push = (name: string, v: unknown) => {
    if (scalar(v)) (out[name] ??= []).push(v);
  };
  const lists = new Set<string>();
  const walk = (obj: Json, prefix: string) => {
    for (const [key, value] of Object.entries(obj)) {
      if (!prefix && SKIPPED.has(key)) continue;
      if (!prefix && key.startsWith("urn:") && isObject(value)) {
        walk(value, `${key}:`);
        continue;
      }
      const name = `${prefix}${key}`;
      if (Array.isArray(value)) {
        const typed = !LIST_ATTRIBUTES.has(key.toLowerCase()) && value.some((i) => isObject(i) && typeof i.type === "string");
        for (const item of value) {
          if (!isObject(item)) {
            push(name, item);
            lists.add(name);
          } else if (typed && typeof item.type === "string") {
            for (const [sub, v] of Object.entries(item))
              if (sub !== "type") push(typedPath(key, item.type, sub, prefix ? prefix.slice(0, -1) : undefined), v);
          } else if (item.value !== undefined) {
            push(name, item.value);
            lists.add(name);
          }
        }
      } else if (isObject(value)) {
        for (const [sub, v] of Object.entries(value)) push(`${name}.${sub}`, v);
      } else {
        push(name, value);
      }
    }
  };
  walk(resource, "");
  const attributes: Attributes = {};
  for (const [name, values] of Object.entries(out)) {
    attributes[name] = lists.has(name) || values.length > 1 ? values : (values[0] as AttributeValue);
  }
  return attributes;
}

const valuesOf = (v: Attributes[string] | undefined): AttributeValue[] =>
  v === null || v === undefined ? [] : Array.isArray(v) ? v : [v];

/** A value as the SCIM attribute's type wants it: "false" from a CSV cell is false for `active`. */
export function coerce(model: ScimModel, rt: ResourceTypeInfo, name: string, value: AttributeValue): AttributeValue {
  const type = model.valueType(rt, name);
  if (type === "boolean" && typeof value !== "boolean") {
    const text = String(value).trim().toLowerCase();
    if (["true", "1", "yes"].includes(text)) return true;
    if (["false", "0", "no", ""].includes(text)) return false;
    throw new ConnectorError("SCHEMA_VIOLATION", `${name} must be a boolean, got ${JSON.stringify(value)}`, false);
  }
  if (type === "integer" && typeof value !== "number") {
    const n = Number(value);
    if (!Number.isInteger(n))
      throw new ConnectorError("SCHEMA_VIOLATION", `${name} must be an integer, got ${JSON.stringify(value)}`, false);
    return n;
  }
  if (type === "string" || type === "reference" || type === "dateTime" || type === "binary") return String(value);
  return value;
}

function pathOf(name: string) {
  const path = parsePath(name);
  if (!path) throw new ConnectorError("SCHEMA_VIOLATION", `"${name}" is not a SCIM attribute path`, false);
  return path;
}

/** The resource a CREATE (POST) or a PUT sends: flat attributes back into SCIM's shape. */
export function toResource(model: ScimModel, rt: ResourceTypeInfo, attributes: Attributes): Json {
  const body: Json = {};
  const extensions = new Set<string>();
  for (const [name, raw] of Object.entries(attributes)) {
    const values = valuesOf(raw);
    if (values.length === 0 || name === "id") continue;
    const path = pathOf(name);
    if (path.urn) extensions.add(path.urn);
    const target = path.urn ? ((body[path.urn] ??= {}) as Json) : body;
    const typed = values.map((v) => coerce(model, rt, name, v));
    if (path.type !== undefined) {
      const list = (target[path.attr] ??= []) as Json[];
      const sub = path.sub ?? "value";
      typed.forEach((v, i) => {
        const mine = list.filter((item) => item.type === path.type);
        const item = mine[i] ?? { type: path.type };
        if (!mine[i]) list.push(item);
        item[sub] = v;
      });
    } else if (model.isMultiComplex(rt, path)) {
      const list = (target[path.attr] ??= []) as Json[];
      for (const v of typed) list.push({ [path.sub ?? "value"]: v });
    } else if (path.sub) {
      ((target[path.attr] ??= {}) as Json)[path.sub] = typed[0];
    } else {
      target[path.attr] = model.isMultiValued(rt, name) ? typed : typed[0];
    }
  }
  return { schemas: [rt.schema || undefined, ...extensions].filter(Boolean), ...body };
}
