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
  const listedHosts = new Set(
    [...allowed].flatMap((origin) => {
      try {
        return [new URL(origin).host.toLowerCase()];
      } catch {
        return [];
      }
    }),
  );
  return {
    /**
     * Whether a request's Host header names this server by a name no attacker controls. A page
     * on a rebound DNS name (evil.example -> 127.0.0.1) is same-origin to itself, so its GET
     * carries no Origin header at all: only the Host header gives it away. Requests without a
     * Host header (HTTP/1.0 tools) cannot come from a browser.
     */
    trustedHost(hostHeader: string | undefined): boolean {
      if (!hostHeader) return true;
      const host = hostHeader.toLowerCase();
      if (listedHosts.has(host)) return true;
      try {
        return trustedHostname(new URL(`http://${host}`).hostname);
      } catch {
        return false;
      }
    },
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
