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

/** How a connector's secrets cross it: sealed on the way in, opened on the way out. */
export interface SecretKeys {
  /** Seals what it imports (SecretBox.sealValue); absent: secret attributes are dropped. */
  seal?: Seal;
  /** Opens what it exports (SecretBox.openValue); absent: a change holding a sealed secret is refused. */
  open?: (sealed: string) => string;
  /** The target's attributes whose sealed values it receives opened (secretsOpenedBy). */
  opens: (attribute: string) => boolean;
}

/** The core SCIM User's password, by its name or its full URN. */
const isScimPassword = (attribute: string) => /(^|:)password$/i.test(attribute);

/** Which attributes of a target of `kind` receive sealed values opened: a SCIM service's password, a directory's (or a file's, a table's) directory secrets. */
export const secretsOpenedBy = (kind: string): ((attribute: string) => boolean) =>
  kind === "SCIM" ? isScimPassword : isDirectorySecret;

/**
 * `connector` with the directory secrets of every object it imports sealed, and the sealed
 * secrets of every change it exports opened, whatever its kind: what a target holds is never our
 * ciphertext (a file or table holding one would hand it to whoever reads it, and the next import
 * would seal it again and see a change).
 */
export function withSealedSecrets(connector: Connector, keys: SecretKeys): Connector {
  const opening =
    (send: (changes: ExportChange[]) => Promise<ExportResult[]>) =>
    async (changes: ExportChange[]): Promise<ExportResult[]> => {
      const { ready, refused } = unsealChanges(changes, keys.open, keys.opens);
      return [...refused, ...(ready.length ? await send(ready) : [])];
    };
  return {
    capabilities: connector.capabilities,
    testConnection: (timeoutMs) => connector.testConnection(timeoutMs),
    discoverSchema: () => connector.discoverSchema(),
    importFull: (checkpoint, context) => sealPages(connector.importFull(checkpoint, context), keys.seal),
    importDelta: (watermark, checkpoint, context) => sealPages(connector.importDelta(watermark, checkpoint, context), keys.seal),
    export: opening((changes) => connector.export(changes)),
    openExportSession: connector.openExportSession
      ? () => {
          const session = connector.openExportSession!();
          return {
            export: opening((changes) => session.export(changes)),
            get commitDue() {
              return session.commitDue;
            },
            commit: () => session.commit(),
            abort: () => session.abort(),
          };
        }
      : undefined,
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
