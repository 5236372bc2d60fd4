import { Ber, type BerReader, BerWriter, Control } from "ldapts";

/**
 * RFC 4527 post-read control: the add response carries the new entry's attributes (entryUUID),
 * saving a read-back search per created entry. Not critical: a server without it (Active
 * Directory) ignores it and `values` stays empty, so callers fall back to a search.
 */
export class PostReadControl extends Control {
  static readonly OID = "1.3.6.1.1.13.2";
  /** Attribute name (as the server spells it) -> values, once the response arrived. */
  values = new Map<string, string[]>();

  constructor(private readonly attributes: string[]) {
    super(PostReadControl.OID, { critical: false });
  }

  protected override writeControl(writer: BerWriter): void {
    const value = new BerWriter();
    value.startSequence(0x30);
    for (const a of this.attributes) value.writeString(a, Ber.OctetString);
    value.endSequence();
    writer.writeBuffer(value.buffer, Ber.OctetString);
  }

  /** The value is a SearchResultEntry: [APPLICATION 4] { objectName, attributes }. */
  protected override parseControl(reader: BerReader): void {
    if (reader.readSequence(0x64) === null) return;
    reader.readString();
    if (reader.readSequence(0x30) === null) return;
    const end = reader.offset + reader.length;
    while (reader.offset < end) {
      if (reader.readSequence(0x30) === null) return;
      const type = reader.readString() ?? "";
      const values: string[] = [];
      if (reader.readSequence(0x31) !== null) {
        const setEnd = reader.offset + reader.length;
        while (reader.offset < setEnd) values.push(reader.readString() ?? "");
      }
      this.values.set(type.toLowerCase(), values);
    }
  }
}
