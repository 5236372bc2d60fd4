/**
 * Export: add / modify / modify DN / delete, several requests in flight per connection.
 * One result per change; a failure (even a dropped connection) never throws for the batch.
 */
import { Attribute, Change, type Client, Filter } from "ldapts";
import type { AttributeChange, AttributeValue, ExportChange, ExportResult } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import type { LdapSession } from "./client.ts";
import type { LdapConfig } from "./config.ts";
import { dnEquals, parseDn } from "./dn.ts";
import { toConnectorError } from "./errors.ts";
import { PostReadControl } from "./post-read.ts";
import type { LdapSchema, ObjectTypeSpec } from "./schema.ts";

export interface ExportDeps {
  sessions: LdapSession[];
  config: LdapConfig;
  types: ObjectTypeSpec[];
  schema: () => Promise<LdapSchema | undefined>;
}

/** Wire form of an attribute: binary values decoded from base64, certificates as ";binary". */
function wireAttribute(schema: LdapSchema | undefined, name: string, values: AttributeValue[]): Attribute {
  if (schema?.isBinary(name)) {
    const type = schema.isCertificate(name) && !/;binary$/i.test(name) ? `${name};binary` : name;
    return new Attribute({ type, values: values.map((v) => Buffer.from(String(v), "base64")) });
  }
  return new Attribute({ type: name, values: values.map(text) });
}

/** LDAP's Boolean syntax is upper case (RFC 4517 3.3.3); numbers are their decimal text. */
function text(v: AttributeValue): string {
  return typeof v === "boolean" ? (v ? "TRUE" : "FALSE") : String(v);
}

function invalid(message: string): ConnectorError {
  return new ConnectorError("INVALID_INPUT", message, false);
}

async function create(client: Client, change: ExportChange, deps: ExportDeps, schema?: LdapSchema): Promise<ExportResult> {
  const dn = change.dn;
  if (!dn) throw invalid("CREATE needs the dn to create");
  const type = deps.types.find((t) => t.name === change.objectType);
  if (!type) throw invalid(`unknown object type "${change.objectType}"`);
  const values = new Map<string, { name: string; values: AttributeValue[] }>();
  for (const a of change.attributes) {
    if (a.operation === "REMOVE" || a.operation === "REMOVE_ALL") continue; // nothing to remove on a new entry
    const key = a.attribute.toLowerCase();
    const slot = values.get(key) ?? { name: a.attribute, values: [] };
    slot.values = a.operation === "REPLACE" ? [...a.values] : [...slot.values, ...a.values];
    values.set(key, slot);
  }
  if (!values.has("objectclass")) values.set("objectclass", { name: "objectClass", values: type.objectClasses });
  // The RDN's value must also be an attribute value of the entry (else: naming violation).
  let rdn: ReturnType<typeof parseDn>;
  try {
    rdn = parseDn(dn);
  } catch (err) {
    throw invalid((err as Error).message);
  }
  const { rdnAttribute, rdnValue } = rdn;
  const rdnSlot = values.get(rdnAttribute.toLowerCase());
  if (!rdnSlot) values.set(rdnAttribute.toLowerCase(), { name: rdnAttribute, values: [rdnValue] });
  // Compared case-insensitively, as naming attributes (cn, uid, ou) match: "Ann" and "ann" would
  // otherwise be sent as two values of one attribute and refused.
  else if (!rdnSlot.values.some((v) => String(v).toLowerCase() === rdnValue.toLowerCase())) rdnSlot.values.push(rdnValue);

  const wanted = [...values.values()].filter((v) => v.values.length);
  const attrs = wanted.map((v) => wireAttribute(schema, v.name, v.values));
  const postRead = new PostReadControl([deps.config.anchorAttribute]);
  try {
    await client.add(dn, attrs, postRead);
  } catch (err) {
    // The entry is there already: our own add whose reply was lost, or someone else's. Join it.
    if (toConnectorError(err).code !== "ALREADY_EXISTS") throw err;
    return reconcile(client, change, dn, wanted, deps, schema);
  }
  let anchor = postRead.values.get(deps.config.anchorAttribute.toLowerCase())?.[0];
  if (!anchor) {
    const read = await client.search(dn, { scope: "base", attributes: [deps.config.anchorAttribute] });
    const entry = read.searchEntries[0];
    const key = entry && Object.keys(entry).find((k) => k.toLowerCase() === deps.config.anchorAttribute.toLowerCase());
    anchor = key ? String(entry[key]) : undefined;
  }
  // As sent, objectClass and the RDN value included: what an import of the entry reads back.
  const attributes = Object.fromEntries(wanted.map((v) => [v.name, v.values.map(text)]));
  return { id: change.id, status: "APPLIED", anchor, dn, attributes };
}

/** An attribute's values as comparable text: binary ones as base64, as the engine holds them. */
function valuesOf(raw: unknown, binary: boolean): string[] {
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return list.map((v) => (Buffer.isBuffer(v) ? v.toString(binary ? "base64" : "utf8") : String(v)));
}

/**
 * A CREATE that met an existing entry at its DN: read the entry, and modify only the attributes
 * whose values differ from the wanted ones (object classes are only added: a structural class
 * cannot be replaced). Attributes the export does not set are left as they are. The result is
 * what the CREATE would have given: APPLIED with the entry's own anchor.
 */
async function reconcile(
  client: Client,
  change: ExportChange,
  dn: string,
  wanted: { name: string; values: AttributeValue[] }[],
  deps: ExportDeps,
  schema?: LdapSchema,
): Promise<ExportResult> {
  const anchorAttribute = deps.config.anchorAttribute;
  const binary = (name: string) => schema?.isBinary(name) ?? false;
  const read = await client.search(dn, {
    scope: "base",
    attributes: [...wanted.map((w) => w.name), anchorAttribute],
    explicitBufferAttributes: [...wanted.map((w) => w.name), anchorAttribute].filter(binary),
  });
  const entry = read.searchEntries[0];
  if (!entry) throw new ConnectorError("NOT_FOUND", `${dn} exists but cannot be read`, false);
  const existing = new Map(Object.entries(entry).map(([k, v]) => [k.toLowerCase().replace(/;binary$/, ""), v]));
  const differences: AttributeChange[] = [];
  // What the entry holds of the wanted attributes once reconciled (the CREATE's `attributes`).
  const holds: Record<string, string[]> = {};
  for (const w of wanted) {
    const key = w.name.toLowerCase();
    const have = valuesOf(existing.get(key), binary(w.name));
    const want = w.values.map(text);
    holds[w.name] = want;
    if (key === "objectclass") {
      const missing = want.filter((v) => !have.some((h) => h.toLowerCase() === v.toLowerCase()));
      if (missing.length) differences.push({ attribute: w.name, operation: "ADD", values: missing });
      holds[w.name] = [...have, ...missing];
      continue;
    }
    const held = new Set(have);
    const same = have.length === want.length && want.every((v) => held.has(v));
    if (!same) differences.push({ attribute: w.name, operation: "REPLACE", values: w.values });
  }
  if (differences.length) await client.modify(dn, modifications(differences, schema));
  const anchor = valuesOf(existing.get(anchorAttribute.toLowerCase()), binary(anchorAttribute))[0];
  // Attributes the CREATE does not set may be there too: then the next import finds the entry changed.
  return { id: change.id, status: "APPLIED", anchor, dn, attributes: holds };
}

function modifications(attributes: AttributeChange[], schema?: LdapSchema): Change[] {
  return attributes.map((a) => {
    switch (a.operation) {
      case "ADD":
        return new Change({ operation: "add", modification: wireAttribute(schema, a.attribute, a.values) });
      case "REPLACE":
        return new Change({ operation: "replace", modification: wireAttribute(schema, a.attribute, a.values) });
      case "REMOVE":
        // Without values, LDAP's delete removes the whole attribute: same as REMOVE_ALL.
        if (a.values.length) {
          return new Change({ operation: "delete", modification: wireAttribute(schema, a.attribute, a.values) });
        }
        return new Change({ operation: "replace", modification: wireAttribute(schema, a.attribute, []) });
      case "REMOVE_ALL":
        // replace-with-nothing removes the attribute and, unlike delete, does not fail when it is absent.
        return new Change({ operation: "replace", modification: wireAttribute(schema, a.attribute, []) });
    }
    throw invalid(`unknown attribute operation ${String((a as AttributeChange).operation)}`);
  });
}

async function exists(client: Client, dn: string): Promise<boolean> {
  try {
    await client.search(dn, { scope: "base", attributes: ["1.1"] });
    return true;
  } catch (err) {
    if (toConnectorError(err).code === "NOT_FOUND") return false;
    throw err;
  }
}

/** The entry's DN from its anchor, for an UPDATE/DELETE that names only the anchor. */
async function dnOf(client: Client, change: ExportChange, deps: ExportDeps, schema?: LdapSchema): Promise<string> {
  if (change.dn) return change.dn;
  if (!change.anchor) throw invalid(`${change.changeType} needs a dn or an anchor`);
  // RFC 4515 escaping by ldapts; a binary anchor (AD objectGUID, base64 here) goes byte by byte.
  const anchor = schema?.isBinary(deps.config.anchorAttribute) ? Buffer.from(change.anchor, "base64") : change.anchor;
  const res = await client.search(deps.config.baseDn, {
    filter: `(${deps.config.anchorAttribute}=${Filter.escape(anchor)})`,
    attributes: ["1.1"],
  });
  const dn = res.searchEntries[0]?.dn;
  if (!dn) throw new ConnectorError("NOT_FOUND", `no entry with ${deps.config.anchorAttribute}=${change.anchor}`, false);
  return dn;
}

async function update(client: Client, change: ExportChange, deps: ExportDeps, schema?: LdapSchema): Promise<ExportResult> {
  let dn = await dnOf(client, change, deps, schema);
  if (change.newDn && !dnEquals(change.newDn, dn)) {
    const target = change.newDn;
    try {
      await client.modifyDN(dn, target);
    } catch (err) {
      // A retry after a rename that did happen (the reply was lost): carry on at the new DN.
      if (toConnectorError(err).code !== "NOT_FOUND" || !(await exists(client, target))) throw err;
    }
    dn = target;
  }
  const changes = modifications(change.attributes, schema);
  if (changes.length) await client.modify(dn, changes);
  return { id: change.id, status: "APPLIED", anchor: change.anchor, dn };
}

async function remove(client: Client, change: ExportChange, deps: ExportDeps, schema?: LdapSchema): Promise<ExportResult> {
  try {
    const dn = await dnOf(client, change, deps, schema);
    await client.del(dn);
    return { id: change.id, status: "APPLIED", anchor: change.anchor, dn };
  } catch (err) {
    // Already gone is what a delete wants (e.g. a retry after a lost reply).
    if (toConnectorError(err).code === "NOT_FOUND")
      return { id: change.id, status: "APPLIED", anchor: change.anchor, dn: change.dn };
    throw err;
  }
}

async function applyOne(
  session: LdapSession,
  change: ExportChange,
  deps: ExportDeps,
  schema?: LdapSchema,
): Promise<ExportResult> {
  try {
    const client = await session.ready();
    switch (change.changeType) {
      case "CREATE":
        return await create(client, change, deps, schema);
      case "UPDATE":
        return await update(client, change, deps, schema);
      case "DELETE":
        return await remove(client, change, deps, schema);
    }
    throw invalid(`unknown change type ${String(change.changeType)}`);
  } catch (err) {
    const e = toConnectorError(err, `${change.changeType} ${change.dn ?? change.anchor ?? change.id}`);
    return { id: change.id, status: e.transient ? "TRANSIENT_FAILURE" : "PERMANENT_FAILURE", code: e.code, message: e.message };
  }
}

/**
 * Applies the batch with `connections` x `concurrency` requests in flight; results in input
 * order. Changes to the same entry stay in order: they run one after another in one worker.
 */
export async function exportChanges(deps: ExportDeps, changes: ExportChange[]): Promise<ExportResult[]> {
  const schema = await deps.schema().catch(() => undefined);
  // Bind first: wrong credentials or an unreachable server fail the whole batch with one error
  // (transient or not, as the error says) instead of one failed bind per change.
  try {
    await Promise.all(deps.sessions.map((s) => s.ready()));
  } catch (err) {
    const e = toConnectorError(err);
    const status = e.transient ? "TRANSIENT_FAILURE" : "PERMANENT_FAILURE";
    return changes.map((c) => ({ id: c.id, status, code: e.code, message: e.message }));
  }
  const groups = new Map<string, number[]>();
  changes.forEach((c, i) => {
    const key = (c.dn ?? c.anchor ?? c.id).toLowerCase();
    const group = groups.get(key);
    if (group) group.push(i);
    else groups.set(key, [i]);
  });
  const queue = [...groups.values()];
  const results: ExportResult[] = new Array(changes.length);
  let next = 0;
  const worker = async (session: LdapSession) => {
    while (next < queue.length) {
      for (const i of queue[next++]!) results[i] = await applyOne(session, changes[i]!, deps, schema);
    }
  };
  const workers: Promise<void>[] = [];
  for (let w = 0; w < deps.sessions.length * deps.config.concurrency; w++) {
    workers.push(worker(deps.sessions[w % deps.sessions.length]!));
  }
  await Promise.all(workers);
  return results;
}
