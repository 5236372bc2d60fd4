import { Attribute, BerReader, BerWriter, SearchEntry } from "ldapts";
import { describe, expect, it } from "vitest";
import { installLeanAttributes } from "../../src/connectors/ldap/lean-attributes.ts";

// ldapts' own parsing, taken before the lean one replaces it.
const original = {
  parse: Attribute.prototype.parse,
  parsedBuffers: Object.getOwnPropertyDescriptor(Attribute.prototype, "parsedBuffers")!,
};

const NOT_UTF8 = Buffer.from([0xff, 0xfe, 0x41]);
const WITH_BOM = Buffer.from([0xef, 0xbb, 0xbf, 0x61, 0x62]);
const VALUES: { type: string; values: (string | Buffer)[] }[] = [
  { type: "cn", values: ["Zoë Łukasz 王", "", "plain"] },
  { type: "member", values: Array.from({ length: 1000 }, (_, i) => `uid=p${i},ou=people,dc=example,dc=org`) },
  { type: "objectGUID", values: [NOT_UTF8, WITH_BOM, Buffer.from("ascii-guid-bytes")] },
  { type: "userCertificate;binary", values: [Buffer.from("valid utf8 but binary")] },
];

/** An attribute as a server sends it, parsed by `parse`. */
function parsed(spec: (typeof VALUES)[number], parse: typeof Attribute.prototype.parse) {
  const writer = new BerWriter();
  new Attribute(spec as { type: string; values: string[] }).write(writer);
  const attribute = new Attribute();
  parse.call(attribute, new BerReader(writer.buffer));
  return attribute;
}

describe("lean LDAP attribute parsing", () => {
  installLeanAttributes();
  const lean = Attribute.prototype.parse;

  it("gives the values and buffers ldapts gives, for text, binary and non-UTF-8 values", () => {
    expect(lean).not.toBe(original.parse);
    for (const spec of VALUES) {
      const theirs = parsed(spec, original.parse);
      const ours = parsed(spec, lean);
      expect(ours.type).toBe(theirs.type);
      expect(ours.values).toEqual(theirs.values);
      expect(ours.parsedBuffers).toEqual(original.parsedBuffers.get!.call(theirs));
    }
    // A BOM-led value reads as text without it (as ldapts decodes it) yet asked as binary keeps its bytes.
    const guid = parsed(VALUES[2]!, lean);
    expect(guid.values[1]).toBe("ab");
    expect(guid.parsedBuffers[1]).toEqual(WITH_BOM);
  });

  it("keeps no Buffer beside a value whose text gives its bytes back", () => {
    const members = parsed(VALUES[1]!, lean) as unknown as { buffers: unknown[] };
    expect(members.buffers.filter(Boolean)).toHaveLength(0);
    const guid = parsed(VALUES[2]!, lean) as unknown as { buffers: unknown[] };
    // The non-UTF-8 value and the BOM-led one keep theirs; the ASCII one does not.
    expect(guid.buffers.map(Boolean)).toEqual([true, true]);
  });

  it("a search entry reads the same, binary attributes asked as buffers included", () => {
    const entry = (parse: typeof Attribute.prototype.parse) => {
      const e = new SearchEntry({ messageId: 1 });
      e.name = "cn=x,dc=example,dc=org";
      e.attributes = VALUES.map((v) => parsed(v, parse));
      return e;
    };
    const asked = ["cn", "member", "objectGUID", "userCertificate;binary"];
    const theirs = entry(original.parse);
    for (const a of theirs.attributes) Object.defineProperty(a, "parsedBuffers", original.parsedBuffers);
    expect(entry(lean).toObject(asked, ["objectGUID"])).toEqual(theirs.toObject(asked, ["objectGUID"]));
    expect(entry(lean).toObject(asked, [])).toEqual(theirs.toObject(asked, []));
  });
});
