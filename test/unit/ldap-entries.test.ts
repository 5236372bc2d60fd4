import { describe, expect, it } from "vitest";
import { mapEntry } from "../../src/connectors/ldap/entries.ts";
import { LdapSchema } from "../../src/connectors/ldap/schema.ts";
import { NO_SECRETS } from "../../src/connectors/ldap/secrets.ts";

// Object class definitions as slapd publishes them (core.schema, inetorgperson.schema, openldap.schema).
const schema = new LdapSchema(
  [],
  [
    "( 2.5.6.0 NAME 'top' ABSTRACT MUST objectClass )",
    "( 2.5.6.6 NAME 'person' SUP top STRUCTURAL MUST ( sn $ cn ) )",
    "( 2.5.6.7 NAME 'organizationalPerson' SUP person STRUCTURAL )",
    "( 2.16.840.1.113730.3.2.2 NAME 'inetOrgPerson' SUP organizationalPerson STRUCTURAL )",
    "( 1.3.6.1.4.1.4203.1.4.1 NAME ( 'OpenLDAPperson' 'OpenLDAPpersonAlias' ) SUP inetOrgPerson STRUCTURAL )",
    "( 2.5.6.9 NAME 'groupOfNames' SUP top STRUCTURAL MUST ( member $ cn ) )",
  ],
);
const m = {
  types: [{ name: "person", objectClasses: ["inetOrgPerson"] }],
  anchorAttribute: "entryUUID",
  internal: new Set<string>(),
  secrets: NO_SECRETS,
  schema,
};

describe("LDAP entry classification", () => {
  it("an entry of a subclass (OpenLDAPperson SUP inetOrgPerson) is of the inetOrgPerson type", () => {
    const mapped = mapEntry({ dn: "cn=Babs,dc=example,dc=com", entryUUID: "u1", objectClass: ["OpenLDAPperson"], cn: "Babs" }, m);
    expect(mapped).toMatchObject({ object: { objectType: "person", anchor: "u1" } });
  });

  it("an entry of no configured type is a located error whose next step names its classes", () => {
    const mapped = mapEntry({ dn: "cn=Staff,dc=example,dc=com", entryUUID: "g1", objectClass: ["groupOfNames", "top"] }, m);
    expect(mapped).toMatchObject({ error: { location: "cn=Staff,dc=example,dc=com", code: "INVALID_INPUT" } });
    const message = "error" in mapped ? mapped.error.message : "";
    expect(message).toContain("its object classes are groupOfNames, top");
    expect(message).toMatch(/Next step: add an objectTypes entry for one of its classes \(groupOfNames, top\)/);
  });
});
