import { isDirectorySecret, isSealedValue, mayHoldDirectorySecret } from "../secrets.ts";
import type {
  AttributeChange,
  Attributes,
  AttributeValues,
  Connector,
  ConnectorObject,
  ExportChange,
  ExportResult,
  ImportPage,
} from "./connector.ts";

// The one place imported directory secrets (userPassword, unicodePwd, ...) are sealed, for every
// connector kind: connector space, run records, GraphQL and logs never hold one in the clear. A
// value that already looks sealed is sealed again, like any other: taken as sealed, an export to a
// directory would open a ciphertext copied from elsewhere and write what it hides.

/** Seals one secret value (SecretBox.sealValue). */
export type Seal = (value: string) => string;

/**
 * `attributes` with every value of its directory secrets sealed (a number or boolean as its
 * text), or dropped when there is no `seal`; null when it holds none.
 */
export function sealSecretAttributes(attributes: Attributes, seal: Seal | undefined): Attributes | null {
  if (!Object.keys(attributes).some(isDirectorySecret)) return null;
  const sealOne = (v: unknown) =>
    typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? seal!(String(v)) : v;
  const sealed: Attributes = {};
  for (const [name, value] of Object.entries(attributes)) {
    if (!isDirectorySecret(name)) sealed[name] = value;
    else if (seal) sealed[name] = (Array.isArray(value) ? value.map(sealOne) : sealOne(value)) as AttributeValues;
  }
  return sealed;
}

function sealObject(object: ConnectorObject, seal: Seal | undefined): ConnectorObject {
  if (object.withoutSecrets) return object;
  // Attributes kept as JSON text are parsed only when the text may name a secret.
  if (object.attributesJson !== undefined && !mayHoldDirectorySecret(object.attributesJson)) return object;
  const sealed = sealSecretAttributes(object.attributes, seal);
  if (!sealed) return object;
  // Hashed again by the engine, from the sealed values: the connector's hash and text were of the clear ones.
  const { objectType, anchor, dn } = object;
  return { objectType, anchor, ...(dn === undefined ? {} : { dn }), attributes: sealed };
}

async function* sealPages(pages: AsyncIterable<ImportPage>, seal: Seal | undefined): AsyncGenerator<ImportPage> {
  for await (const page of pages) yield { ...page, objects: page.objects.map((o) => sealObject(o, seal)) };
}

/** `connector` with the directory secrets of every object it imports sealed with `seal` (dropped without one). */
export function withSealedSecrets(connector: Connector, seal: Seal | undefined): Connector {
  return {
    capabilities: connector.capabilities,
    testConnection: (timeoutMs) => connector.testConnection(timeoutMs),
    discoverSchema: () => connector.discoverSchema(),
    importFull: (checkpoint, context) => sealPages(connector.importFull(checkpoint, context), seal),
    importDelta: (watermark, checkpoint, context) => sealPages(connector.importDelta(watermark, checkpoint, context), seal),
    export: (changes) => connector.export(changes),
    openExportSession: connector.openExportSession ? () => connector.openExportSession!() : undefined,
    close: () => connector.close(),
  };
}

/**
 * Changes with the sealed values of the target's secret attributes (`isSecret`) opened: a sealed
 * secret (an imported password hash) is written to the target as the value it was, never as its
 * sealed text (which anyone reading the database could then bind with). Without an opener, a
 * change holding one is refused. A sealed-looking value of any other attribute is sent as the
 * text it is: nothing of ours seals one, so a source sent it, and opening it would disclose what
 * it hides.
 */
export function unsealChanges(
  changes: ExportChange[],
  open: ((sealed: string) => string) | undefined,
  isSecret: (attribute: string) => boolean,
): { ready: ExportChange[]; refused: ExportResult[] } {
  const ready: ExportChange[] = [];
  const refused: ExportResult[] = [];
  const sealedSecret = (a: AttributeChange) => isSecret(a.attribute) && a.values.some(isSealedValue);
  const refuse = (id: string, message: string) =>
    refused.push({ id, status: "PERMANENT_FAILURE", code: "INVALID_INPUT", message });
  for (const change of changes) {
    if (!change.attributes.some(sealedSecret)) ready.push(change);
    else if (!open) refuse(change.id, "the change holds a sealed secret and this connector has no key to open it");
    else {
      let attribute = "";
      try {
        const opened = (a: AttributeChange) => {
          attribute = a.attribute;
          return { ...a, values: a.values.map((v) => (isSealedValue(v) ? open(v) : v)) };
        };
        ready.push({ ...change, attributes: change.attributes.map((a) => (sealedSecret(a) ? opened(a) : a)) });
      } catch (e) {
        // An expression altered it, or another key sealed it: this change fails, not its batch.
        refuse(change.id, `a sealed value of ${attribute} cannot be opened with this server's key (${(e as Error).message})`);
      }
    }
  }
  return { ready, refused };
}
