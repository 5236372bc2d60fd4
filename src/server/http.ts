import type { IncomingMessage, ServerResponse } from "node:http";
import type { Caller } from "./auth.ts";
import { refusalResponse } from "./auth.ts";
import type { DatabaseHealth } from "./health.ts";
import type { Metrics } from "./metrics.ts";

/** Largest GraphQL request body accepted; anything bigger is refused before parsing. */
export const MAX_BODY_BYTES = 1_000_000;

/** A GraphQL-shaped error body, so clients read every refusal the same way. */
export function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  extra: { headers?: Record<string, string>; extensions?: Record<string, unknown> } = {},
) {
  res.writeHead(status, { "content-type": "application/json", ...extra.headers });
  res.end(JSON.stringify({ errors: [{ message, extensions: { ...extra.extensions, code } }] }));
}

/**
 * Refuse a body over the limit before Yoga reads it. A body without a declared length
 * (chunked) could only be measured while streaming into Yoga: it is refused instead (411);
 * browsers and GraphQL clients always send Content-Length for a JSON body.
 */
export function refuseBody(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method !== "POST") return false;
  const declared = req.headers["content-length"];
  if (declared === undefined) {
    sendError(res, 411, "LENGTH_REQUIRED", "a POST body needs a Content-Length header");
    return true;
  }
  if (Number(declared) > MAX_BODY_BYTES) {
    // Connection: close, so the unread body is not parsed as the next request.
    res.setHeader("connection", "close");
    sendError(res, 413, "PAYLOAD_TOO_LARGE", `request body over ${MAX_BODY_BYTES} bytes`);
    return true;
  }
  // Only JSON: a browser page of any origin may POST a form (urlencoded, multipart, text/plain)
  // without asking first; a JSON body makes the browser ask (CORS preflight), which a foreign
  // origin does not pass. So no mutation can be sent by a mere form or <img>.
  const type = req.headers["content-type"]?.split(";")[0]?.trim().toLowerCase();
  if (type !== "application/json") {
    res.setHeader("connection", "close");
    sendError(res, 415, "UNSUPPORTED_MEDIA_TYPE", "a GraphQL POST body must be sent as Content-Type: application/json");
    return true;
  }
  return false;
}

export async function healthz(database: () => Promise<DatabaseHealth>, res: ServerResponse) {
  const { ok, ageMs } = await database();
  res.writeHead(ok ? 200 : 503, { "content-type": "application/json" });
  res.end(JSON.stringify({ status: ok ? "ok" : "unavailable", database: { ok, checkedMsAgo: ageMs } }));
}

/** Prometheus text format; behind the same key check as GraphQL (any role may scrape). */
export async function metricsRoute(metrics: Metrics, caller: Caller, res: ServerResponse) {
  if (caller.role === null) return sendRefusal(res, caller);
  try {
    const body = await metrics.registry.metrics();
    res.writeHead(200, { "content-type": metrics.registry.contentType });
    res.end(body);
  } catch {
    sendError(res, 503, "UNAVAILABLE", "metrics are unavailable: the database does not answer");
  }
}

/** 401 UNAUTHENTICATED, or 429 RATE_LIMITED with Retry-After for a throttled address. */
export function sendRefusal(res: ServerResponse, caller: Extract<Caller, { role: null }>) {
  const r = refusalResponse(caller);
  sendError(res, r.status, r.code, r.message, { headers: r.headers, extensions: r.extensions });
}
