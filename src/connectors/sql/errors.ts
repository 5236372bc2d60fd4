import { ConnectorError, type ExportChange, type ExportResult } from "../connector.ts";

interface PgLikeError {
  code?: string;
  message?: string;
  /** PostgreSQL's DETAIL, e.g. `Key (department)=(D9) is not present in table "departments".` */
  detail?: string;
}

/**
 * A pg / network failure as a typed connector error. SQLSTATE classes decide: 08 and shutdown
 * (57P0x) are a lost server, 28 credentials, 23/22/42 what the row or schema got wrong.
 */
export function toConnectorError(error: unknown, what: string): ConnectorError {
  if (error instanceof ConnectorError) return error;
  const { code = "", message = String(error), detail } = (error ?? {}) as PgLikeError;
  const text = `${what}: ${message}${detail ? ` (${detail})` : ""}`;
  const make = (c: ConstructorParameters<typeof ConnectorError>[0], transient?: boolean) =>
    new ConnectorError(c, text, transient, { cause: error });
  if (["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ECONNRESET", "EPIPE", "EHOSTUNREACH", "ENETUNREACH"].includes(code))
    return make("CONNECTION_FAILED");
  if (code === "ETIMEDOUT" || code === "57014") return make("TIMEOUT");
  if (code.startsWith("08") || ["57P01", "57P02", "57P03", "53300"].includes(code)) return make("CONNECTION_FAILED");
  if (code === "28P01" || code === "28000") return make("AUTH_FAILED", false);
  if (["3D000", "42P01", "3F000"].includes(code)) return make("NOT_FOUND", false);
  if (code === "42501") return make("PERMISSION_DENIED", false);
  if (code === "23505") return make("ALREADY_EXISTS", false);
  if (code.startsWith("23") || code.startsWith("22") || ["42703", "42804", "42P18"].includes(code))
    return make("SCHEMA_VIOLATION", false);
  // Serialization failures, deadlocks and exhausted resources succeed when tried again.
  if (code === "40001" || code === "40P01" || code.startsWith("53")) return make("INTERNAL", true);
  if (code === "") {
    // pg's own client-side failures carry no SQLSTATE, only a message.
    if (/timeout|timed out/i.test(message)) return make("TIMEOUT");
    if (/terminated|not queryable|connection.*(closed|ended|error)|socket/i.test(message)) return make("CONNECTION_FAILED");
  }
  return make("INTERNAL", false);
}

/**
 * One change the table refused, inside a batch that goes on. A foreign key violation is retried
 * with backoff (ERROR after the maximum): the row it references may be written later, by
 * another system or a later export. Other refusals (check, not-null, type) are permanent.
 */
export function rowFailure(id: string, failed: ConnectorError): ExportResult {
  const laterMaybe = (failed.cause as PgLikeError | undefined)?.code === "23503";
  return {
    id,
    status: failed.transient || laterMaybe ? "TRANSIENT_FAILURE" : "PERMANENT_FAILURE",
    code: failed.code,
    message: failed.message,
  };
}

/**
 * The row a change is about, for its error: its anchor, or for a CREATE whose key the engine
 * has not stored yet, the anchor column's value it sets (`id=E00042`), so a refusal names its row.
 */
export function rowName(anchorColumn: string, change: ExportChange): string {
  if (change.anchor !== undefined) return change.anchor;
  const key = change.attributes.find((a) => a.attribute === anchorColumn && a.operation !== "REMOVE");
  return key?.values?.length ? `${anchorColumn}=${key.values.map(String).join(",")}` : "";
}
