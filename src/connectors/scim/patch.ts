/**
 * PATCH operations (RFC 7644 3.5.2) from the engine's attribute-level changes. Paths are the flat
 * attribute names (resources.ts), so a change to `emails[type eq "work"].value` is a replace at
 * that value path, and a member added or removed is one item of `members`, not the whole list.
 */
import type { AttributeChange, AttributeValue } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import { parsePath, type ResourceTypeInfo, type ScimModel } from "./model.ts";
import { coerce } from "./resources.ts";

export interface PatchOperation {
  op: "add" | "replace" | "remove";
  path?: string;
  value?: unknown;
}

export const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

const quoted = (v: AttributeValue) => JSON.stringify(String(v));

export function patchOperations(model: ScimModel, rt: ResourceTypeInfo, changes: AttributeChange[]): PatchOperation[] {
  const ops: PatchOperation[] = [];
  for (const change of changes) {
    const name = change.attribute;
    if (name === "id") continue; // the anchor is the service's, never written
    const path = parsePath(name);
    if (!path) throw new ConnectorError("SCHEMA_VIOLATION", `"${name}" is not a SCIM attribute path`, false);
    const values = change.values.map((v) => coerce(model, rt, name, v));
    const urn = path.urn ? `${path.urn}:` : "";
    const listAttr = `${urn}${path.attr}`;
    // A list of item values (members, untyped emails): items are {value}, or {<sub>} for attr.sub.
    const itemList = path.type === undefined && model.isMultiComplex(rt, path);
    const sub = path.sub ?? "value";
    const items = (vs: AttributeValue[]) => vs.map((v) => ({ [sub]: v }));
    const empty = values.length === 0;
    if (path.urn && path.sub && path.type === undefined && !itemList) {
      // A sub-attribute of an extension's complex attribute (the enterprise manager.value): written
      // as an add of the complex attribute with that sub-attribute (RFC 7644 3.5.2.1 merges it),
      // a path form services read alike; cleared with the complex attribute when it names its value.
      const parent = `${path.urn}:${path.attr}`;
      const clear = empty || change.operation === "REMOVE" || change.operation === "REMOVE_ALL";
      if (!clear) ops.push({ op: "add", path: parent, value: { [path.sub]: values[0] } });
      else ops.push({ op: "remove", path: path.sub === "value" ? parent : name });
      continue;
    }
    switch (change.operation) {
      case "REPLACE":
        if (empty) ops.push(removeAll(path.type, listAttr, name, sub));
        else if (itemList) ops.push({ op: "replace", path: listAttr, value: items(values) });
        else if (path.type !== undefined) ops.push({ op: "replace", path: name, value: values[0] });
        else ops.push({ op: "replace", path: name, value: model.isMultiValued(rt, name) ? values : values[0] });
        break;
      case "REMOVE_ALL":
        ops.push(removeAll(path.type, listAttr, name, sub));
        break;
      case "ADD":
        if (empty) break;
        if (itemList) ops.push({ op: "add", path: listAttr, value: items(values) });
        else if (path.type !== undefined)
          ops.push({ op: "add", path: listAttr, value: values.map((v) => ({ type: path.type, [sub]: v })) });
        else ops.push({ op: "add", path: name, value: model.isMultiValued(rt, name) ? values : values[0] });
        break;
      case "REMOVE":
        if (empty) {
          ops.push(removeAll(path.type, listAttr, name, sub));
        } else if (itemList || path.type !== undefined) {
          const typeClause = path.type === undefined ? "" : `type eq ${quoted(path.type)} and `;
          for (const v of values) ops.push({ op: "remove", path: `${listAttr}[${typeClause}${sub} eq ${quoted(v)}]` });
        } else if (model.isMultiValued(rt, name)) {
          // A simple multi-valued attribute has no filter to select values by: its values go with the op.
          ops.push({ op: "remove", path: name, value: values });
        } else {
          ops.push({ op: "remove", path: name });
        }
        break;
    }
  }
  return ops;
}

/** Removes what a flat attribute holds: a typed item as a whole (when it names its value), else the path. */
function removeAll(type: string | undefined, listAttr: string, name: string, sub: string): PatchOperation {
  if (type !== undefined && sub === "value") return { op: "remove", path: `${listAttr}[type eq ${quoted(type)}]` };
  return { op: "remove", path: type === undefined && sub === "value" ? listAttr : name };
}

/**
 * The same operations with each write the resource has no target for rewritten as an add of
 * that target: a value-path replace (no item of that type yet) adds a new typed item, and a write
 * to a sub-attribute of an absent complex attribute (`manager.value` before any manager) adds the
 * complex attribute. For services that answer 400 noTarget (RFC 7644 3.5.2.3) instead of adding.
 */
export function addingMissingItems(ops: PatchOperation[], resource: Record<string, unknown>): PatchOperation[] {
  return ops.map((op) => {
    if ((op.op !== "replace" && op.op !== "add") || !op.path) return op;
    const path = parsePath(op.path);
    if (!path || (path.type === undefined && path.sub === undefined)) return op;
    const holder = path.urn ? (resource[path.urn] as Record<string, unknown> | undefined) : resource;
    const target = holder?.[path.attr];
    const urn = path.urn ? `${path.urn}:` : "";
    if (path.type === undefined) {
      if (target !== undefined && target !== null) return op;
      return { op: "add", path: `${urn}${path.attr}`, value: { [path.sub as string]: op.value } };
    }
    const present = Array.isArray(target) && target.some((i) => (i as { type?: unknown })?.type === path.type);
    if (present || op.op !== "replace") return op;
    return { op: "add", path: `${urn}${path.attr}`, value: [{ type: path.type, [path.sub ?? "value"]: op.value }] };
  });
}
