/**
 * HTTP to a SCIM 2.0 service over Node's fetch (undici keeps connections alive): authentication,
 * a timeout per attempt, 429/503 honoured with their Retry-After, and answers as typed errors.
 */
import { ConnectorError } from "../connector.ts";
import type { ScimConfig } from "./config.ts";
import { httpError, networkError, type ScimErrorBody } from "./errors.ts";

export const SCIM_JSON = "application/scim+json";
/** How many times one request is sent again after 429/503 before it fails (transient). */
export const MAX_THROTTLE_RETRIES = 5;
/** Wait when a 429/503 names no Retry-After: 1 s, doubled per retry. */
const DEFAULT_BACKOFF_MS = 1000;

export interface ScimResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  signal?: AbortSignal;
  /** Statuses returned rather than thrown (e.g. 404 for a lookup). */
  accept?: number[];
}

/**
 * Retry-After as milliseconds: delay-seconds or an HTTP date (RFC 9110 10.2.3); null when absent
 * or unreadable. A date in the past is 0.
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - now);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export class ScimClient {
  /** Requests sent again after a 429/503 (all requests of this client): for logs and tests. */
  throttledRetries = 0;
  private readonly base: string;
  private readonly authorization: string;

  constructor(private readonly config: ScimConfig) {
    this.base = config.baseUrl.replace(/\/+$/, "");
    this.authorization = config.bearerToken
      ? `Bearer ${config.bearerToken}`
      : `Basic ${Buffer.from(`${config.username}:${config.password}`).toString("base64")}`;
  }

  /** An absolute URL under the base URL; a path segment from data (an id) must be encoded by the caller. */
  url(path: string, query?: RequestOptions["query"]): string {
    const url = new URL(`${this.base}${path.startsWith("/") ? path : `/${path}`}`);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url.toString();
  }

  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    options: RequestOptions = {},
    timeoutMs = this.config.timeoutMs,
  ): Promise<ScimResponse<T>> {
    const what = `${method} ${path}`;
    const url = this.url(path, options.query);
    for (let attempt = 0; ; attempt++) {
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
      let response: Response;
      let text: string;
      try {
        response = await fetch(url, {
          method,
          headers: {
            Authorization: this.authorization,
            Accept: `${SCIM_JSON}, application/json`,
            ...(options.body === undefined ? {} : { "Content-Type": SCIM_JSON }),
          },
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
          signal,
          redirect: "error",
        });
        text = await response.text();
      } catch (error) {
        throw networkError(error, what, timeoutMs);
      }
      const body = parseBody(text);
      if ((response.status === 429 || response.status === 503) && attempt < MAX_THROTTLE_RETRIES) {
        const asked = parseRetryAfter(response.headers.get("retry-after"));
        const wait = asked ?? DEFAULT_BACKOFF_MS * 2 ** attempt;
        if (wait > this.config.maxRetryAfterMs) {
          throw new ConnectorError(
            "CONNECTION_FAILED",
            `${what}: HTTP ${response.status}, Retry-After ${Math.ceil(wait / 1000)} s is longer than maxRetryAfterMs (${this.config.maxRetryAfterMs} ms)`,
            true,
          );
        }
        this.throttledRetries++;
        await sleep(wait, options.signal);
        continue;
      }
      if (response.ok || options.accept?.includes(response.status)) return { status: response.status, body: body as T };
      throw httpError(response.status, body as ScimErrorBody | null, what);
    }
  }
}

function parseBody(text: string): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 200) };
  }
}
