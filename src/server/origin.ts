import { isIP } from "node:net";
import type { Config } from "../config.ts";

/**
 * Which browser origins may call the API. While no API key exists every loopback caller is an
 * admin, so a page from any other origin open in a browser on this machine must not reach it.
 * A request without an Origin header (curl, the CLI, a server-side client) is not cross-origin.
 * The server's own origin is the one the Host header names, but only when that host cannot be
 * an attacker's DNS name re-pointed at 127.0.0.1 (DNS rebinding): an IP literal, localhost, or
 * the configured HOST. Anything else must be listed in METASYNC_ALLOWED_ORIGINS.
 */
export function createOriginPolicy(config: Pick<Config, "host" | "allowedOrigins">) {
  const allowed = new Set(config.allowedOrigins ?? []);
  const trustedHostname = (hostname: string) => {
    const bare = hostname.replace(/^\[|\]$/g, "").toLowerCase();
    return isIP(bare) !== 0 || bare === "localhost" || bare === config.host.toLowerCase();
  };
  return {
    /** An Origin listed in METASYNC_ALLOWED_ORIGINS: it gets CORS headers. */
    isListed: (origin: string | null | undefined) => !!origin && allowed.has(origin),
    allows(origin: string | null | undefined, hostHeader: string | undefined): boolean {
      if (origin === undefined || origin === null) return true;
      if (allowed.has(origin)) return true;
      let url: URL;
      try {
        url = new URL(origin);
      } catch {
        return false; // "null" (sandboxed frames, file://) and garbage
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") return false;
      return !!hostHeader && url.host === hostHeader.toLowerCase() && trustedHostname(url.hostname);
    },
  };
}

export type OriginPolicy = ReturnType<typeof createOriginPolicy>;

export const originRefusal = (origin: string) =>
  `cross-origin request from ${origin.slice(0, 200)} refused: add the origin to METASYNC_ALLOWED_ORIGINS to allow it`;
