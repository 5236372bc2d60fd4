import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The dashboard: plain HTML + ES modules + CSS from src/server/dashboard/, no build step.
 * `GET /` is the page, `GET /dashboard/<file>` its assets. Files are read once at startup
 * (a few KB) and served from memory with an ETag; every response is revalidated
 * (`no-cache`) because module names carry no content hash, so a deploy is seen at once.
 * The page talks only to the public GraphQL API, so it needs no auth of its own.
 */
const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "dashboard");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

// Same-origin only: no inline script, no third-party anything; the GraphQL socket is same-origin.
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'";

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(DIR)) {
    const type = TYPES[path.extname(name)];
    if (!type) continue;
    const body = readFileSync(path.join(DIR, name));
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
    assets.set(name, { body, type, etag });
  }
  return assets;
}

export type DashboardRoute = (req: IncomingMessage, res: ServerResponse, pathname: string) => boolean;

/** Returns a handler that answers dashboard paths (true) and leaves every other path alone (false). */
export function createDashboard(): DashboardRoute {
  const assets = loadAssets();
  return (req, res, pathname) => {
    let name: string | undefined;
    if (pathname === "/" || pathname === "/index.html") name = "index.html";
    else if (pathname.startsWith("/dashboard/")) name = pathname.slice("/dashboard/".length);
    else return false;
    // Names come from the directory listing, never from joining the URL onto a path.
    const asset = assets.get(name);
    if (!asset) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" });
      res.end("not found\n");
      return true;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
      res.end("method not allowed\n");
      return true;
    }
    const headers: Record<string, string> = {
      "content-type": asset.type,
      etag: asset.etag,
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    };
    if (asset.type.startsWith("text/html")) {
      headers["content-security-policy"] = CSP;
      headers["x-frame-options"] = "DENY";
    }
    if (req.headers["if-none-match"] === asset.etag) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    headers["content-length"] = String(asset.body.length);
    res.writeHead(200, headers);
    res.end(req.method === "HEAD" ? undefined : asset.body);
    return true;
  };
}
