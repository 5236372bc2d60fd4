import { Attribute, Ber, type BerReader, ProtocolOperation } from "ldapts";

/**
 * ldapts (9.2) keeps, beside every attribute value it decodes as text, the Buffer it decoded it
 * from (`Attribute.buffers`), and holds both for a whole search page: each such Buffer is a view
 * that also keeps the page's message alive. A directory page with ten groups of 100,000
 * members held a million of them, ~90 MB on top of the values (a confirming import at 1,000,000
 * people peaked at 748 MB with a 319 MB live heap). The buffers are only read when a value was
 * asked for as binary (`explicitBufferAttributes`) or is not UTF-8, so here a value keeps its
 * Buffer only when it stays one (binary type, not UTF-8) or its text would not give the same
 * bytes back (a leading byte order mark, which the decoder drops); `parsedBuffers` encodes the
 * others again when asked. Installed once, by the LDAP client module; the ldapts version is
 * pinned in package.json, and test/unit/ldap-lean-attributes.test.ts checks the parse against
 * ldapts' own for text, binary and non-UTF-8 values.
 */
const utf8 = new TextDecoder("utf8", { fatal: true });
const BOM = [0xef, 0xbb, 0xbf];

/** The fields of ldapts' Attribute that parsing fills (`buffers` is private in its types). */
interface LeanAttribute {
  type: string;
  buffers: (Buffer | undefined)[];
  values: (string | Buffer)[];
}

function parse(this: LeanAttribute, reader: BerReader) {
  reader.readSequence();
  this.type = reader.readString() ?? "";
  const binaryType = /;binary$/i.test(this.type);
  if (reader.peek() !== ProtocolOperation.LBER_SET || !reader.readSequence(ProtocolOperation.LBER_SET)) return;
  const end = reader.offset + reader.length;
  while (reader.offset < end) {
    const buffer = (reader.readString(Ber.OctetString, true) as Buffer | null) ?? Buffer.alloc(0);
    let value: string | Buffer = buffer;
    if (!binaryType)
      try {
        value = utf8.decode(buffer);
      } catch {
        // Not UTF-8: the value stays a Buffer, as ldapts leaves it.
      }
    const exact = typeof value === "string" && !BOM.every((b, i) => buffer[i] === b);
    // Sparse: only the values whose bytes the text cannot give back keep their Buffer.
    if (!exact) this.buffers[this.values.length] = buffer;
    this.values.push(value);
  }
}

function parsedBuffers(this: LeanAttribute): Buffer[] {
  return this.values.map((v, i) => this.buffers[i] ?? (Buffer.isBuffer(v) ? v : Buffer.from(v, "utf8")));
}

let installed = false;

/** Replace ldapts' Attribute parsing by the lean one above (idempotent). */
export function installLeanAttributes() {
  if (installed) return;
  installed = true;
  const proto = Attribute.prototype as unknown as Record<string, unknown>;
  proto.parse = parse;
  Object.defineProperty(Attribute.prototype, "parsedBuffers", { get: parsedBuffers, configurable: true });
}
