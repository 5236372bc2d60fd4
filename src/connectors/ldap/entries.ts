/**
 * Search entries -> connector objects, and the search filter for the configured object types.
 */
import { type Entry, Filter } from "ldapts";
import { isDirectorySecret } from "../../secrets.ts";
import type { Attributes, AttributeValue, ConnectorObject, RecordError } from "../connector.ts";
import { canonicalDn } from "./dn.ts";
import type { LdapSchema, ObjectTypeSpec } from "./schema.ts";

/** `(&<base filter>(|(&(objectClass=a)(objectClass=b)<type filter>)...))` */
export function typesFilter(baseFilter: string, types: ObjectTypeSpec[]): string {
  const perType = types.map(
    (t) => `(&${t.objectClasses.map((oc) => `(objectClass=${Filter.escape(oc)})`).join("")}${t.filter ?? ""})`,
  );
  const anyType = perType.length === 1 ? perType[0]! : `(|${perType.join("")})`;
  return baseFilter === "(objectClass=*)" ? anyType : `(&${baseFilter}${anyType})`;
}

/**
 * The first type whose object classes the entry has (all of them, case-insensitively), directly
 * or through the schema's SUP chain: an OpenLDAPperson entry is an inetOrgPerson.
 */
export function classify(objectClasses: string[], types: ObjectTypeSpec[], schema?: LdapSchema): ObjectTypeSpec | undefined {
  const have = schema ? schema.withSuperclasses(objectClasses) : new Set(objectClasses.map((c) => c.toLowerCase()));
  return types.find((t) => t.objectClasses.every((c) => have.has(c.toLowerCase())));
}

function asValues(v: Entry[string]): string[] {
  const list = Array.isArray(v) ? v : [v];
  // Binary values (and any value that is not valid UTF-8) arrive as Buffers: base64, as the
  // connector interface promises.
  return list.map((x) => (Buffer.isBuffer(x) ? x.toString("base64") : String(x)));
}

/** Why an entry has no type, and what to do: it names the classes the entry has. */
function noTypeMessage(classes: string[], types: ObjectTypeSpec[]): string {
  const have = classes.length ? classes.join(", ") : "none";
  const wanted = types.map((t) => `${t.name} (${t.objectClasses.join(" + ")})`).join(", ");
  return (
    `entry matches no configured object type: its object classes are ${have}; configured: ${wanted}. ` +
    `Next step: add an objectTypes entry for one of its classes (${have}), or narrow the filter to exclude it`
  );
}

/** The DN in the one spelling rules compute (canonicalDn); as the server wrote it if it does not parse. */
function storedDn(dn: string): string {
  try {
    return canonicalDn(dn);
  } catch {
    return dn;
  }
}

export interface EntryMapping {
  types: ObjectTypeSpec[];
  anchorAttribute: string;
  /** Lower-case names of attributes fetched for the connector's own use, not emitted. */
  internal: Set<string>;
  schema?: LdapSchema;
  /** The secret attributes (userPassword..., lower case) kept; the others are dropped. */
  secrets: ReadonlySet<string>;
}

export type MappedEntry = { object: ConnectorObject; csn?: string } | { error: RecordError; csn?: string };

export function mapEntry(entry: Entry, m: EntryMapping): MappedEntry {
  const byLower = new Map<string, string>();
  for (const key of Object.keys(entry)) byLower.set(key.toLowerCase(), key);
  const get = (name: string) => {
    const key = byLower.get(name.toLowerCase());
    return key === undefined ? [] : asValues(entry[key]!);
  };
  const csn = get("entryCSN")[0];
  const anchor = get(m.anchorAttribute)[0];
  const classes = get("objectClass");
  const type = classify(classes, m.types, m.schema);
  if (!anchor) {
    const message = `entry has no ${m.anchorAttribute}`;
    return { error: { location: entry.dn, code: "INVALID_INPUT", message }, csn };
  }
  if (!type) return { error: { location: entry.dn, code: "INVALID_INPUT", message: noTypeMessage(classes, m.types) }, csn };
  const attributes: Attributes = {};
  for (const key of Object.keys(entry)) {
    const lower = key.toLowerCase();
    if (key === "dn" || lower === m.anchorAttribute.toLowerCase() || m.internal.has(lower)) continue;
    const values: AttributeValue[] = asValues(entry[key]!);
    if (values.length === 0) continue; // requested but absent
    // Kept as read: every connector's imports are sealed on their way out (sealed-secrets.ts).
    if (isDirectorySecret(key) && !m.secrets.has(key.toLowerCase().split(";")[0]!)) continue;
    // "userCertificate;binary" is the transfer form of userCertificate: one name for the engine.
    const name = key.replace(/;binary$/i, "");
    const multi = m.schema ? m.schema.isMultiValued(name) : values.length > 1;
    attributes[name] = multi ? values : values.length === 1 ? values[0]! : values;
  }
  return { object: { objectType: type.name, anchor, dn: storedDn(entry.dn), attributes }, csn };
}
