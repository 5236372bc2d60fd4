import type { PrismaClient } from "../generated/prisma/client.ts";
import type { ApiRole } from "../generated/prisma/enums.ts";
import { hashKey } from "../systems/api-keys.ts";
import { RateLimiter } from "../util/rate-limiter.ts";

export type Refusal = "NO_KEY" | "INVALID_KEY" | "NOT_LOOPBACK" | "UNTRUSTED_HOST" | "THROTTLED";

export type Caller =
  | { role: ApiRole; keyId: string | null }
  | { role: null; reason: Refusal /** THROTTLED: seconds until the address may try again. */; retryAfterSeconds?: number };

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
}

/** Keys that recently proved valid stay usable from an address that is being throttled. */
const REMEMBERED_KEYS = 10_000;

/**
 * Who is calling. While no API key exists, loopback clients are admins (development
 * default) and others are refused; once one exists, a valid Bearer key is required.
 * Bad keys are counted per client address: past `failuresPerMinute` (a burst, refilled
 * over a minute) the address is THROTTLED, except with a key it recently used successfully,
 * so a guessing loop slows down without a valid client on the same address noticing.
 */
export function createAuthenticator(
  prisma: PrismaClient,
  options: { failuresPerMinute?: number; trustedHost?: (hostHeader: string | undefined) => boolean } = {},
) {
  const trustedHost = options.trustedHost ?? (() => true);
  // Only "a key exists" is cached: the moment the first key is created (maybe by the CLI in
  // another process) keyless loopback access must end, while rejecting keyless callers of a
  // secured server should not cost a query each.
  let keysExistAt: number | null = null;
  const anyKey = async () => {
    if (keysExistAt !== null && Date.now() - keysExistAt < 2000) return true;
    const value = (await prisma.apiKey.count({ where: { revokedAt: null } })) > 0;
    keysExistAt = value ? Date.now() : null;
    return value;
  };
  const perMinute = options.failuresPerMinute ?? 10;
  const failures = new RateLimiter({ capacity: perMinute, refillPerSecond: perMinute / 60 });
  const validHashes = new Set<string>();
  const remember = (hash: string) => {
    validHashes.delete(hash);
    validHashes.add(hash);
    if (validHashes.size > REMEMBERED_KEYS) validHashes.delete(validHashes.values().next().value as string);
  };

  return async function authenticate(
    authorization: string | null | undefined,
    remoteAddress: string | undefined,
    hostHeader?: string,
  ): Promise<Caller> {
    const bearer = authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
    if (bearer) {
      const hash = hashKey(bearer);
      const address = remoteAddress ?? "unknown";
      if (!validHashes.has(hash)) {
        const wait = failures.waitMs(address);
        if (wait > 0) return { role: null, reason: "THROTTLED", retryAfterSeconds: Math.ceil(wait / 1000) };
      }
      const key = await prisma.apiKey.findUnique({ where: { keyHash: hash } });
      if (!key || key.revokedAt) {
        validHashes.delete(hash);
        failures.take(address);
        return { role: null, reason: "INVALID_KEY" };
      }
      remember(hash);
      void prisma.apiKey.update({ where: { id: key.id }, data: { lastUsedAt: new Date() } }).catch(() => {});
      return { role: key.role, keyId: key.id };
    }
    if (await anyKey()) return { role: null, reason: "NO_KEY" };
    if (!isLoopback(remoteAddress)) return { role: null, reason: "NOT_LOOPBACK" };
    // Keyless admin is for this machine's own tools; a browser page on a rebound DNS name is
    // loopback too, and only its Host header tells (see origin.ts).
    return trustedHost(hostHeader) ? { role: "ADMIN", keyId: null } : { role: null, reason: "UNTRUSTED_HOST" };
  };
}

export type Authenticate = ReturnType<typeof createAuthenticator>;

/** What a refused caller is told: UNAUTHENTICATED (RATE_LIMITED when throttled), the message says why. */
export function refusal(reason: Refusal, retryAfterSeconds = 0): string {
  switch (reason) {
    case "NO_KEY":
      return "an API key is required: send Authorization: Bearer <key>";
    case "INVALID_KEY":
      return "the API key is invalid or revoked";
    case "NOT_LOOPBACK":
      return "no API key exists yet, so only loopback clients are served: create one with npx metasync apikey create --role admin";
    case "UNTRUSTED_HOST":
      return "no API key exists yet, so only requests addressed to localhost, an IP address, HOST or a METASYNC_ALLOWED_ORIGINS host are served: use one of those or create a key with npx metasync apikey create --role admin";
    case "THROTTLED":
      return `too many failed authentications from this address: retry in ${retryAfterSeconds} s`;
  }
}

/** HTTP status, code and headers of a refused caller. */
export function refusalResponse(caller: Extract<Caller, { role: null }>): {
  status: number;
  code: string;
  message: string;
  headers: Record<string, string>;
  extensions: Record<string, unknown>;
} {
  if (caller.reason === "THROTTLED") {
    const seconds = Math.max(1, caller.retryAfterSeconds ?? 1);
    return {
      status: 429,
      code: "RATE_LIMITED",
      message: refusal("THROTTLED", seconds),
      headers: { "retry-after": String(seconds) },
      extensions: { retryAfterSeconds: seconds },
    };
  }
  return { status: 401, code: "UNAUTHENTICATED", message: refusal(caller.reason), headers: {}, extensions: {} };
}
