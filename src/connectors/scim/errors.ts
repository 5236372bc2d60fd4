import { ConnectorError, type ConnectorErrorCode } from "../connector.ts";

/** The body of a SCIM error response (RFC 7644 3.12), as far as it was readable. */
export interface ScimErrorBody {
  status?: string | number;
  scimType?: string;
  detail?: string;
}

// scimType values that say the request itself is wrong: retrying the same request cannot help.
const SCHEMA_TYPES = new Set(["invalidValue", "mutability", "noTarget", "invalidPath", "tooMany"]);

/**
 * An HTTP answer of a SCIM service as a typed connector error: 401 credentials, 403 rights,
 * 404 gone, 409 uniqueness (ALREADY_EXISTS, reconciled by the caller), 400 with a scimType the
 * request's fault (permanent), 5xx and an exhausted 429 the service's (transient).
 */
export function httpError(status: number, body: ScimErrorBody | null, what: string): ConnectorError {
  const detail = body?.detail ? `: ${body.detail}` : "";
  const type = body?.scimType ? ` (${body.scimType})` : "";
  const message = `${what}: HTTP ${status}${type}${detail}`;
  const make = (code: ConnectorErrorCode, transient = false) => new ConnectorError(code, message, transient);
  if (status === 401) return make("AUTH_FAILED");
  if (status === 403) return make("PERMISSION_DENIED");
  if (status === 404) return make("NOT_FOUND");
  if (status === 409) return body?.scimType && body.scimType !== "uniqueness" ? make("INVALID_INPUT") : make("ALREADY_EXISTS");
  if (status === 400) return SCHEMA_TYPES.has(body?.scimType ?? "") ? make("SCHEMA_VIOLATION") : make("INVALID_INPUT");
  if (status === 413) return make("INVALID_INPUT");
  if (status === 501) return make("UNSUPPORTED");
  if (status === 408) return make("TIMEOUT", true);
  // 412 (an ETag moved under us), throttling the retries did not outlast, and server trouble.
  if (status === 412 || status === 429 || status >= 500) return make("CONNECTION_FAILED", true);
  return make("INTERNAL");
}

/** A fetch failure (refused, reset, DNS, aborted by the timeout) as a typed error. */
export function networkError(error: unknown, what: string, timeoutMs: number): ConnectorError {
  if (error instanceof ConnectorError) return error;
  const err = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === "TimeoutError") return new ConnectorError("TIMEOUT", `${what}: no answer within ${timeoutMs} ms`, true);
  if (err?.name === "AbortError") return new ConnectorError("TIMEOUT", `${what}: aborted`, true, { cause: error });
  const cause = err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(error);
  if (/CERT|SSL|TLS|self.signed/i.test(String(cause)))
    return new ConnectorError("CONNECTION_FAILED", `${what}: TLS: ${cause}`, false, { cause: error });
  return new ConnectorError("CONNECTION_FAILED", `${what}: ${cause}`, true, { cause: error });
}
