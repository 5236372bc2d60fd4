import { ResultCodeError } from "ldapts";
import { ConnectorError, type ConnectorErrorCode } from "../connector.ts";

/**
 * LDAP result codes (RFC 4511 appendix A) -> connector error codes. Which ones are transient
 * decides whether the engine retries: only "the server is busy / unavailable / timed out".
 */
const RESULT_CODES: Record<number, { code: ConnectorErrorCode; transient: boolean }> = {
  3: { code: "TIMEOUT", transient: true }, // timeLimitExceeded
  4: { code: "PERMISSION_DENIED", transient: false }, // sizeLimitExceeded: a server limit for this bind DN
  11: { code: "PERMISSION_DENIED", transient: false }, // adminLimitExceeded
  7: { code: "UNSUPPORTED", transient: false }, // authMethodNotSupported
  8: { code: "AUTH_FAILED", transient: false }, // strongerAuthRequired
  13: { code: "AUTH_FAILED", transient: false }, // confidentialityRequired
  16: { code: "SCHEMA_VIOLATION", transient: false }, // noSuchAttribute (REMOVE of a value not there)
  17: { code: "SCHEMA_VIOLATION", transient: false }, // undefinedAttributeType
  18: { code: "INVALID_INPUT", transient: false }, // inappropriateMatching
  19: { code: "SCHEMA_VIOLATION", transient: false }, // constraintViolation
  20: { code: "SCHEMA_VIOLATION", transient: false }, // attributeOrValueExists
  21: { code: "SCHEMA_VIOLATION", transient: false }, // invalidAttributeSyntax
  32: { code: "NOT_FOUND", transient: false }, // noSuchObject
  34: { code: "INVALID_INPUT", transient: false }, // invalidDNSyntax
  48: { code: "AUTH_FAILED", transient: false }, // inappropriateAuthentication
  49: { code: "AUTH_FAILED", transient: false }, // invalidCredentials
  50: { code: "PERMISSION_DENIED", transient: false }, // insufficientAccessRights
  51: { code: "CONNECTION_FAILED", transient: true }, // busy
  52: { code: "CONNECTION_FAILED", transient: true }, // unavailable
  53: { code: "CONNECTION_FAILED", transient: true }, // unwillingToPerform (e.g. a read-only replica, shutting down)
  64: { code: "INVALID_INPUT", transient: false }, // namingViolation
  65: { code: "SCHEMA_VIOLATION", transient: false }, // objectClassViolation
  66: { code: "INVALID_INPUT", transient: false }, // notAllowedOnNonLeaf
  67: { code: "SCHEMA_VIOLATION", transient: false }, // notAllowedOnRDN
  68: { code: "ALREADY_EXISTS", transient: false }, // entryAlreadyExists
  69: { code: "SCHEMA_VIOLATION", transient: false }, // objectClassModsProhibited
};

const SOCKET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);

/** Turns anything ldapts (or node's socket layer) throws into a typed ConnectorError. */
export function toConnectorError(err: unknown, context?: string): ConnectorError {
  if (err instanceof ConnectorError) return err;
  const prefix = context ? `${context}: ` : "";
  if (err instanceof ResultCodeError) {
    if (err.code === 2 && /cookie/i.test(err.message)) {
      // The connection was re-established between two pages: the paged search died with the old
      // one. Retrying (resuming from the last checkpoint) will work.
      return new ConnectorError("CONNECTION_FAILED", `${prefix}connection lost during a paged search: ${err.message}`, true, {
        cause: err,
      });
    }
    const mapped = RESULT_CODES[err.code] ?? { code: "INTERNAL" as const, transient: false };
    const hint =
      err.code === 4 || err.code === 11
        ? ' (the server limits how many entries this bind DN may read, paging or not: raise it, e.g. OpenLDAP `limits dn.exact="<bind DN>" size=unlimited`)'
        : "";
    return new ConnectorError(mapped.code, `${prefix}LDAP ${err.code}: ${err.message}${hint}`, mapped.transient, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  const sysCode = (err as { code?: unknown } | null)?.code;
  if (/timed out|Connection timeout/i.test(message)) {
    return new ConnectorError("TIMEOUT", `${prefix}${message}`, true, { cause: err });
  }
  if (typeof sysCode === "string" && sysCode === "ENOTFOUND") {
    return new ConnectorError("CONNECTION_FAILED", `${prefix}host not found: ${message}`, false, { cause: err });
  }
  if (typeof sysCode === "string" && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(sysCode)) {
    // A certificate problem is configuration, not weather: retrying will not help.
    return new ConnectorError("CONNECTION_FAILED", `${prefix}TLS: ${message}`, false, { cause: err });
  }
  if (
    (typeof sysCode === "string" && SOCKET_CODES.has(sysCode)) ||
    /Socket error|Connection closed|connection not established|socket hang up|ECONNRESET|ECONNREFUSED/i.test(message)
  ) {
    return new ConnectorError("CONNECTION_FAILED", `${prefix}${message}`, true, { cause: err });
  }
  return new ConnectorError("INTERNAL", `${prefix}${message}`, false, { cause: err });
}
