/**
 * What the engine needs from a connected system. One folder per kind implements it
 * (csv/, sql/, ldap/, scim/); src/connectors/index.ts builds one from a kind + config.
 *
 * Values are JSON-safe: strings, numbers, booleans; multi-valued attributes are arrays;
 * binary values are base64 strings (declared BINARY in the discovered schema).
 */
export type AttributeValue = string | number | boolean;
/** One attribute's value(s): null is "no value". Connector objects, flow results and metaverse objects share it. */
export type AttributeValues = AttributeValue | AttributeValue[] | null;
export type Attributes = Record<string, AttributeValues>;

export interface ConnectorCapabilities {
  fullImport: boolean;
  deltaImport: boolean;
  export: boolean;
  schemaDiscovery: boolean;
  /** Objects can be renamed (LDAP modify DN) rather than deleted and re-created. */
  rename: boolean;
}

/** One object as the connected system holds it. */
export interface ConnectorObject {
  objectType: string;
  /** Stable identifier in that system (entryUUID, primary key, anchor column). */
  anchor: string;
  /** Distinguished name / path where the system has one (LDAP). */
  dn?: string;
  attributes: Attributes;
  /**
   * contentHash(attributes) (src/engine/hash.ts) when the connector already computed it, e.g.
   * off the main thread: the engine then does not hash again. Exactly that function, or unset.
   */
  contentHash?: string;
  /**
   * JSON.stringify(attributes), when the connector has it already (CSV: the text its content
   * hash was taken of): the engine stores it as is instead of serialising the attributes again.
   */
  attributesJson?: string;
  /**
   * The connector knows none of its attribute names is a directory secret (CSV: from the file's
   * header, once): sealed-secrets.ts then does not look for one in each object.
   */
  withoutSecrets?: boolean;
}

/** A record that could not be read: located, so the run can say where and why. */
export interface RecordError {
  /** e.g. "hr.csv:42", "uid=x,ou=people,dc=example,dc=org", "public.users id=7" */
  location: string;
  code: ConnectorErrorCode;
  message: string;
  anchor?: string;
}

/**
 * One page of an import. Pages are resumable: after a crash the engine calls importFull /
 * importDelta again with the checkpoint of the last page it committed.
 */
export interface ImportPage {
  /** Objects added or changed (full import: every object on the page). */
  objects: ConnectorObject[];
  /** Delta import only: objects gone from the system. */
  deletes: { objectType: string; anchor: string }[];
  errors: RecordError[];
  /** Opaque JSON position after this page. */
  checkpoint: unknown;
  /** Set on the last page: what the next delta import starts from. */
  watermark?: unknown;
  /** Estimated number of objects in the whole import, when cheaply known (progress %). */
  total?: number;
  /**
   * Ids of the records the page was made from, where its source has them (the real-time inbox's
   * entry ids): marked taken in the transaction that writes the page. Kept through merging.
   */
  sourceIds?: string[];
}

/** The operations of an attribute change: the GraphQL enum AttributeChangeOperation is built from this list. */
export const ATTRIBUTE_CHANGE_OPERATIONS = ["ADD", "REPLACE", "REMOVE", "REMOVE_ALL"] as const;
export type AttributeChangeOperation = (typeof ATTRIBUTE_CHANGE_OPERATIONS)[number];

export interface AttributeChange {
  attribute: string;
  operation: AttributeChangeOperation;
  values: AttributeValue[];
}

export interface ExportChange {
  /** Pending export id: results are matched back by it. */
  id: string;
  changeType: "CREATE" | "UPDATE" | "DELETE";
  objectType: string;
  /** Known for UPDATE/DELETE; for CREATE where the engine chooses it (SQL key, CSV anchor). */
  anchor?: string;
  /** Current DN (UPDATE/DELETE) or the DN to create (CREATE). */
  dn?: string;
  /** UPDATE: the computed DN differs from `dn`: rename (modify DN) first. */
  newDn?: string;
  attributes: AttributeChange[];
}

export type ExportResult =
  | {
      id: string;
      status: "APPLIED";
      anchor?: string;
      dn?: string;
      /**
       * CREATE: every attribute the new object holds as sent, values the connector added itself
       * included (LDAP: objectClass, the RDN's value), when the connector knows them. Connector
       * space then expects what the next import reads, which finds the object unchanged instead
       * of writing it again. Without it the engine expects the planned changes alone.
       */
      attributes?: Attributes;
    }
  | {
      id: string;
      status: "TRANSIENT_FAILURE" | "PERMANENT_FAILURE";
      code: ConnectorErrorCode;
      message: string;
      /** The target asked to be left alone this long (429/503 Retry-After): no retry, by any worker, before. */
      retryAfterMs?: number;
    };

export interface DiscoveredAttribute {
  name: string;
  type: "STRING" | "INTEGER" | "BOOLEAN" | "DATETIME" | "BINARY" | "REFERENCE" | "GUID";
  multiValued: boolean;
  required: boolean;
}

export interface DiscoveredObjectType {
  name: string;
  anchorAttribute: string;
  attributes: DiscoveredAttribute[];
}

export interface DiscoveredSchema {
  objectTypes: DiscoveredObjectType[];
}

/**
 * What the engine lends a connector during an import: the content hashes of what the last
 * import stored, so a source without change tracking (CSV) can still answer a delta.
 */
export interface ImportContext {
  /** anchor -> content hash (see src/engine/hash.ts) of the stored objects among `anchors`. */
  storedHashes(objectType: string, anchors: string[]): Promise<Map<string, string>>;
  /** Every stored (not obsolete) anchor of the type, in pages. */
  storedAnchors(objectType: string): AsyncIterable<string[]>;
  signal?: AbortSignal;
  /**
   * Names (lower case) the system's rules may read or write: every name their sources, targets,
   * expressions, join rules and scopes mention. A connector imports a secret attribute (e.g.
   * LDAP userPassword) only when it is among them. Absent: no rule uses anything secret.
   */
  attributesRead?(): Promise<Set<string>>;
}

export interface Connector {
  readonly capabilities: ConnectorCapabilities;
  /** Throws a ConnectorError (CONNECTION_FAILED, AUTH_FAILED, TIMEOUT...) when unusable. */
  testConnection(timeoutMs?: number): Promise<{ message: string }>;
  discoverSchema(): Promise<DiscoveredSchema>;
  importFull(checkpoint: unknown | null, context: ImportContext): AsyncIterable<ImportPage>;
  importDelta(watermark: unknown | null, checkpoint: unknown | null, context: ImportContext): AsyncIterable<ImportPage>;
  /** One result per change, in any order; a failure of one change never throws for the batch. */
  export(changes: ExportChange[]): Promise<ExportResult[]>;
  /**
   * For a target where making changes durable costs a rewrite of the whole (a CSV file): batches
   * applied together and made durable by one commit. The export run uses it when present.
   */
  openExportSession?(): ExportSession;
  close(): Promise<void>;
}

/**
 * Export batches that become durable together. A change answered APPLIED by `export` is durable
 * only once a later `commit` resolves; until then it must not be reported exported.
 */
export interface ExportSession {
  /** As Connector.export, applied in the session only. */
  export(changes: ExportChange[]): Promise<ExportResult[]>;
  /** The connector's advice that enough is applied to be worth a commit now. */
  readonly commitDue: boolean;
  /** Makes every change applied since the last commit durable; throws a ConnectorError when none is. */
  commit(): Promise<void>;
  /** Drops what was applied since the last commit. */
  abort(): Promise<void>;
}

export type ConnectorErrorCode =
  | "CONNECTION_FAILED"
  | "AUTH_FAILED"
  | "TIMEOUT"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "SCHEMA_VIOLATION"
  | "INVALID_INPUT"
  | "PERMISSION_DENIED"
  | "UNSUPPORTED"
  /** A configured value the connector refuses (e.g. a file outside METASYNC_FILE_ROOTS). */
  | "BAD_USER_INPUT"
  /** The target refused for load (429, 503, LDAP busy): transient, and says when to come back. */
  | "THROTTLED"
  | "INTERNAL";

/** A typed connector failure; `transient` tells the engine whether retrying can help. */
export class ConnectorError extends Error {
  constructor(
    readonly code: ConnectorErrorCode,
    message: string,
    readonly transient = code === "CONNECTION_FAILED" || code === "TIMEOUT" || code === "THROTTLED",
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(message, options);
    this.name = "ConnectorError";
    this.retryAfterMs = options?.retryAfterMs;
  }

  /** The target's Retry-After, when it gave one: every worker waits it out before calling again. */
  readonly retryAfterMs?: number;
}
