import { describe, expect, it } from "vitest";
import {
  buildDn,
  canonicalDn,
  dnEquals,
  escapeDnValue,
  isDnUnder,
  parseDn,
  unescapeDnValue,
} from "../../src/connectors/ldap/dn.ts";

describe("RFC 4514 DN escaping", () => {
  it.each([
    ["Smith, John", "Smith\\, John"],
    [" leading", "\\ leading"],
    ["trailing ", "trailing\\ "],
    ["#hash", "\\#hash"],
    ["a#b", "a#b"],
    ["a+b", "a\\+b"],
    ["a;b", "a\\;b"],
    ["<x>", "\\<x\\>"],
    ["a=b", "a\\=b"],
    ['say "hi"', 'say \\"hi\\"'],
    ["back\\slash", "back\\5Cslash"],
    ["nul\0", "nul\\00"],
    ["Zoë Ærøskøbing 山田", "Zoë Ærøskøbing 山田"],
    [" ", "\\ "],
    ["  ", "\\ \\ "],
  ])("escapes %j as %j and parses it back", (value, escaped) => {
    expect(escapeDnValue(value)).toBe(escaped);
    expect(unescapeDnValue(escaped)).toBe(value);
    const dn = buildDn("cn", value, "ou=people,dc=example,dc=org");
    const parsed = parseDn(dn);
    expect(parsed).toEqual({ rdn: `cn=${escaped}`, rdnAttribute: "cn", rdnValue: value, parent: "ou=people,dc=example,dc=org" });
  });

  it("decodes hex pairs as UTF-8 bytes", () => {
    expect(unescapeDnValue("Zo\\C3\\AB")).toBe("Zoë");
    expect(parseDn("cn=\\23x\\2C y ,dc=org").rdnValue).toBe("#x, y");
  });

  it("splits a multi-valued RDN and a one-RDN DN", () => {
    expect(parseDn("cn=a+uid=b,dc=org")).toMatchObject({
      rdn: "cn=a+uid=b",
      rdnAttribute: "cn",
      rdnValue: "a",
      parent: "dc=org",
    });
    expect(parseDn("dc=org")).toMatchObject({ rdnValue: "org", parent: "" });
    expect(() => parseDn("nonsense")).toThrow(/no attribute=value/);
  });

  it("compares DNs ignoring case, spaces and escaping style", () => {
    expect(dnEquals("CN=Smith\\, John, OU=People,dc=example,dc=org", "cn=smith\\2C john,ou=people,dc=example,dc=org")).toBe(true);
    expect(dnEquals("cn=a,dc=org", "cn=b,dc=org")).toBe(false);
    expect(isDnUnder("uid=x,ou=People,dc=example,dc=org", "dc=example,dc=org")).toBe(true);
    expect(isDnUnder("uid=x,dc=other,dc=org", "dc=example,dc=org")).toBe(false);
  });
});

describe("canonicalDn", () => {
  it.each([
    ["cn=z\\2Buid\\3Dinjected Doe,ou=people,dc=example,dc=org", "cn=z\\+uid\\=injected Doe,ou=people,dc=example,dc=org"],
    ["cn=Smith\\2C John , ou=people", "cn=Smith\\, John,ou=people"],
    ['cn="a,b",dc=x', "cn=a\\,b,dc=x"],
    ["cn=a+uid=b,dc=x", "cn=a+uid=b,dc=x"],
    ["cn=trail\\5C,dc=x", "cn=trail\\5C,dc=x"],
    ["cn=trail\\\\,dc=x", "cn=trail\\5C,dc=x"],
    ["cn=\\23lead,dc=x", "cn=\\#lead,dc=x"],
    ["", ""],
  ])("spells %j as %j", (dn, canonical) => {
    expect(canonicalDn(dn)).toBe(canonical);
  });

  it("refuses a part without attribute=value", () => {
    expect(() => canonicalDn("cn=a,oops")).toThrow(/oops/);
  });
});
