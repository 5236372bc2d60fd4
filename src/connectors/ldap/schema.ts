/**
 * Schema discovery from the subschema entry (RFC 4512 section 4.2): attribute types with their
 * syntaxes (inherited through SUP), object classes with MUST/MAY (inherited through SUP).
 */
import type { DiscoveredAttribute, DiscoveredObjectType, DiscoveredSchema } from "../connector.ts";
import type { LdapSession } from "./client.ts";

export interface AttributeTypeDef {
  names: string[];
  sup?: string;
  syntax?: string;
  singleValue: boolean;
  operational: boolean;
}

export interface ObjectClassDef {
  names: string[];
  sup: string[];
  must: string[];
  may: string[];
}

/** One parsed definition: keyword -> its values ("NAME" -> ["cn", "commonName"]). */
function parseDefinition(def: string): Map<string, string[]> {
  const tokens = def.match(/'[^']*'|\(|\)|[^\s()']+/g) ?? [];
  const fields = new Map<string, string[]>();
  // tokens[0] is "(" and tokens[1] the OID.
  let i = 2;
  while (i < tokens.length) {
    const keyword = tokens[i++]!;
    if (keyword === ")") break;
    const values: string[] = [];
    if (tokens[i] === "(") {
      i++;
      while (i < tokens.length && tokens[i] !== ")") {
        const t = tokens[i++]!;
        if (t !== "$") values.push(t.replace(/^'|'$/g, ""));
      }
      i++;
    } else if (i < tokens.length && !/^[A-Z][A-Z-]*$/.test(tokens[i]!) && tokens[i] !== ")") {
      values.push(tokens[i++]!.replace(/^'|'$/g, ""));
    }
    fields.set(keyword, values);
  }
  return fields;
}

export function parseAttributeType(def: string): AttributeTypeDef {
  const f = parseDefinition(def);
  return {
    names: f.get("NAME") ?? [],
    sup: f.get("SUP")?.[0],
    // "1.3.6.1.4.1.1466.115.121.1.15{256}": the length bound is not part of the syntax OID.
    syntax: f.get("SYNTAX")?.[0]?.replace(/\{\d+\}$/, ""),
    singleValue: f.has("SINGLE-VALUE"),
    operational: (f.get("USAGE")?.[0] ?? "userApplications") !== "userApplications",
  };
}

export function parseObjectClass(def: string): ObjectClassDef {
  const f = parseDefinition(def);
  return { names: f.get("NAME") ?? [], sup: f.get("SUP") ?? [], must: f.get("MUST") ?? [], may: f.get("MAY") ?? [] };
}

const S = "1.3.6.1.4.1.1466.115.121.1.";
/** Syntaxes whose values are bytes, not text: exchanged as base64. */
const BINARY_SYNTAXES = new Set([`${S}5`, `${S}8`, `${S}9`, `${S}10`, `${S}28`, `${S}40`, `${S}49`]);
/** Certificates must be transferred with the ";binary" option (RFC 4523). */
export const CERTIFICATE_SYNTAXES = new Set([`${S}8`, `${S}9`, `${S}10`]);
const TYPE_BY_SYNTAX: Record<string, DiscoveredAttribute["type"]> = {
  [`${S}7`]: "BOOLEAN",
  [`${S}27`]: "INTEGER",
  [`${S}24`]: "DATETIME",
  [`${S}12`]: "REFERENCE",
  "1.3.6.1.1.16.1": "GUID",
};
/** Octet-string syntax but text in practice ({SSHA}... hashes, written as strings). */
const TEXT_OCTET_ATTRIBUTES = new Set(["userpassword"]);

/** The subschema, indexed by lower-case name, with syntax inheritance resolved. */
export class LdapSchema {
  private readonly attributes = new Map<string, AttributeTypeDef>();
  private readonly classes = new Map<string, ObjectClassDef>();

  private readonly extraBinary: Set<string>;

  /** `extraBinary`: attributes to treat as binary whatever their syntax (config binaryAttributes). */
  constructor(attributeTypes: string[], objectClasses: string[], extraBinary: string[] = []) {
    this.extraBinary = new Set(extraBinary.map((n) => n.toLowerCase()));
    for (const def of attributeTypes) {
      const at = parseAttributeType(def);
      for (const n of at.names) this.attributes.set(n.toLowerCase(), at);
    }
    for (const def of objectClasses) {
      const oc = parseObjectClass(def);
      for (const n of oc.names) this.classes.set(n.toLowerCase(), oc);
    }
  }

  attribute(name: string): AttributeTypeDef | undefined {
    return this.attributes.get(name.toLowerCase().replace(/;binary$/, ""));
  }

  /** The attribute's syntax OID, following SUP (cn -> name -> directoryString). */
  syntax(name: string): string | undefined {
    let at = this.attribute(name);
    for (let depth = 0; at && depth < 10; depth++) {
      if (at.syntax) return at.syntax;
      at = at.sup ? this.attribute(at.sup) : undefined;
    }
    return undefined;
  }

  isBinary(name: string): boolean {
    if (this.extraBinary.has(name.toLowerCase().replace(/;binary$/, ""))) return true;
    if (TEXT_OCTET_ATTRIBUTES.has(name.toLowerCase())) return false;
    const syntax = this.syntax(name);
    return syntax !== undefined && BINARY_SYNTAXES.has(syntax);
  }

  isCertificate(name: string): boolean {
    const syntax = this.syntax(name);
    return syntax !== undefined && CERTIFICATE_SYNTAXES.has(syntax);
  }

  isMultiValued(name: string): boolean {
    const at = this.attribute(name);
    return at ? !at.singleValue : true;
  }

  /** Every name (and alias) of every binary attribute type, as ldapts needs them to return Buffers. */
  binaryAttributeNames(): string[] {
    const names: string[] = [...this.extraBinary];
    for (const at of new Set(this.attributes.values())) {
      const primary = at.names[0];
      if (primary && this.isBinary(primary)) {
        names.push(...at.names);
        if (this.isCertificate(primary)) names.push(...at.names.map((n) => `${n};binary`));
      }
    }
    return names;
  }

  /** MUST and MAY of the classes and their superclasses; required wins over optional. */
  classAttributes(objectClasses: string[]): Map<string, boolean> {
    const result = new Map<string, boolean>();
    const seen = new Set<string>();
    const visit = (name: string) => {
      const oc = this.classes.get(name.toLowerCase());
      if (!oc || seen.has(name.toLowerCase())) return;
      seen.add(name.toLowerCase());
      for (const a of oc.must) result.set(this.canonical(a), true);
      for (const a of oc.may) if (!result.get(this.canonical(a))) result.set(this.canonical(a), false);
      for (const sup of oc.sup) visit(sup);
    };
    for (const c of objectClasses) visit(c);
    return result;
  }

  /**
   * The classes an entry of these classes also is, through SUP (OpenLDAPperson -> inetOrgPerson
   * -> organizationalPerson -> person -> top), lower case. The server's filter matches subclasses,
   * so classifying an entry must too.
   */
  withSuperclasses(objectClasses: string[]): Set<string> {
    const out = new Set<string>();
    const visit = (name: string) => {
      const lower = name.toLowerCase();
      if (out.has(lower)) return;
      out.add(lower);
      const oc = this.classes.get(lower);
      for (const n of oc?.names ?? []) out.add(n.toLowerCase());
      for (const sup of oc?.sup ?? []) visit(sup);
    };
    for (const c of objectClasses) visit(c);
    return out;
  }

  canonical(name: string): string {
    return this.attribute(name)?.names[0] ?? name;
  }

  describe(name: string, required: boolean): DiscoveredAttribute {
    const syntax = this.syntax(name);
    const type = this.isBinary(name) ? "BINARY" : ((syntax ? TYPE_BY_SYNTAX[syntax] : undefined) ?? "STRING");
    return { name, type, multiValued: this.isMultiValued(name), required };
  }
}

/** Reads the subschema entry named by the root DSE (cn=Subschema on OpenLDAP). */
export async function loadSchema(session: LdapSession, extraBinary: string[] = []): Promise<LdapSchema> {
  return session.run("read subschema", async (client) => {
    const root = await client.search("", { scope: "base", attributes: ["subschemaSubentry"] });
    const subentry = String(root.searchEntries[0]?.subschemaSubentry ?? "cn=Subschema") || "cn=Subschema";
    const res = await client.search(subentry, {
      scope: "base",
      filter: "(objectClass=subschema)",
      attributes: ["attributeTypes", "objectClasses"],
    });
    const entry = res.searchEntries[0];
    const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : v ? [String(v)] : []);
    return new LdapSchema(list(entry?.attributeTypes), list(entry?.objectClasses), extraBinary);
  });
}

export interface ObjectTypeSpec {
  name: string;
  objectClasses: string[];
  filter?: string;
}

/** The engine's view: one object type per configured type, attributes from its classes. */
export function describeSchema(schema: LdapSchema, types: ObjectTypeSpec[], anchorAttribute: string): DiscoveredSchema {
  const objectTypes: DiscoveredObjectType[] = types.map((t) => {
    const attrs = schema.classAttributes(t.objectClasses);
    // The anchor (entryUUID, an operational attribute) travels as ConnectorObject.anchor, not here.
    const attributes = [...attrs].map(([name, required]) => schema.describe(name, required));
    return { name: t.name, anchorAttribute, attributes };
  });
  return { objectTypes };
}
