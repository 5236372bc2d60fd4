import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { GraphiQLOptions } from "graphql-yoga";

/**
 * GraphiQL (GET /graphql from a browser) served entirely by this server, so it works offline and
 * under a same-origin CSP: Yoga's own page loads GraphiQL from unpkg.com. The bundle, styles and
 * Monaco editor workers come from the installed @graphql-yoga/render-graphiql (the build Yoga
 * itself ships), served under /graphiql/; the page has no inline script (its options travel as
 * JSON in a non-executed script element).
 */
export const GRAPHIQL_PREFIX = "/graphiql/";

// GraphiQL and its Monaco editor inject <style> elements and style attributes at run time: styles
// need 'unsafe-inline'; scripts, workers and connections stay same-origin. Fonts and icons in the
// stylesheet are data: URLs.
export const GRAPHIQL_CSP =
  "default-src 'self'; script-src 'self'; worker-src 'self'; style-src 'self' 'unsafe-inline'; " +
  "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'";

/** Headers of the GraphiQL page (set by graphql-handler.ts on Yoga's HTML response). */
export const GRAPHIQL_PAGE_HEADERS: Record<string, string> = {
  "content-security-policy": GRAPHIQL_CSP,
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/** Monaco asks for a worker by label; each is one file here. */
const WORKERS = { editorWorkerService: "editor.worker.js", json: "json.worker.js", graphql: "graphql.worker.js" };

// Runs before the bundle: Monaco reads this when it starts.
const MONACO_ENV = `self.MonacoEnvironment = {
  globalAPI: false,
  getWorkerUrl: function (_moduleId, label) {
    var files = ${JSON.stringify(WORKERS)};
    return ${JSON.stringify(GRAPHIQL_PREFIX)} + (files[label] || files.editorWorkerService);
  },
};
`;

const START = `YogaGraphiQL.renderYogaGraphiQL(
  document.getElementById("root"),
  JSON.parse(document.getElementById("graphiql-options").textContent),
);
`;

/** Yoga's renderGraphiQL: the page, referring to the assets below. */
export function renderGraphiQLPage(options: GraphiQLOptions): string {
  // "<" escaped: an option value cannot close the script element.
  const json = JSON.stringify(options ?? {}).replace(/</g, "\\u003c");
  const title = String(options?.title ?? "GraphiQL").replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const p = GRAPHIQL_PREFIX;
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>${title}</title>
    <link rel="icon" href="${p}favicon.ico" />
    <link rel="stylesheet" href="${p}graphiql.css" />
  </head>
  <body id="body" class="no-focus-outline">
    <noscript>You need to enable JavaScript to run GraphiQL.</noscript>
    <div id="root"></div>
    <script type="application/json" id="graphiql-options">${json}</script>
    <script src="${p}monaco-env.js"></script>
    <script src="${p}graphiql.js"></script>
    <script src="${p}start.js"></script>
  </body>
</html>
`;
}

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const JS = "text/javascript; charset=utf-8";

async function loadAssets(): Promise<Map<string, Asset>> {
  // About 9 MB of strings: loaded on the first request for an asset, not at every start.
  const bundle = await import("@graphql-yoga/render-graphiql/graphiql");
  const files: [string, string, string | Buffer][] = [
    ["graphiql.js", JS, bundle.js],
    ["graphiql.css", "text/css; charset=utf-8", bundle.css],
    ["monaco-env.js", JS, MONACO_ENV],
    ["start.js", JS, START],
    [WORKERS.editorWorkerService, JS, bundle.editorWorkerService],
    [WORKERS.json, JS, bundle.jsonWorker],
    [WORKERS.graphql, JS, bundle.graphqlWorker],
    ["favicon.ico", "image/x-icon", Buffer.from(bundle.favicon.replace(/^data:[^,]*;base64,/, ""), "base64")],
  ];
  return new Map(
    files.map(([name, type, content]) => {
      const body = Buffer.isBuffer(content) ? content : Buffer.from(content, "utf8");
      const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
      return [name, { body, type, etag }];
    }),
  );
}

export type GraphiQLAssetRoute = (req: IncomingMessage, res: ServerResponse, pathname: string) => boolean;

/** Answers /graphiql/<asset> (true) and leaves every other path alone (false). */
export function createGraphiQLAssets(): GraphiQLAssetRoute {
  let assets: Promise<Map<string, Asset>> | undefined;
  return (req, res, pathname) => {
    if (!pathname.startsWith(GRAPHIQL_PREFIX)) return false;
    assets ??= loadAssets();
    void assets.then(
      (loaded) => send(req, res, loaded.get(pathname.slice(GRAPHIQL_PREFIX.length))),
      () => {
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        res.end("GraphiQL assets are not available\n");
      },
    );
    return true;
  };
}

function send(req: IncomingMessage, res: ServerResponse, asset: Asset | undefined) {
  // Names come from the fixed list above, never from joining the URL onto a path.
  if (!asset) {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" });
    res.end("not found\n");
    return;
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
    res.end("method not allowed\n");
    return;
  }
  const headers: Record<string, string> = {
    "content-type": asset.type,
    etag: asset.etag,
    // The names carry no version: revalidate (a 304 while the installed package is the same).
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  };
  if (req.headers["if-none-match"] === asset.etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  headers["content-length"] = String(asset.body.length);
  res.writeHead(200, headers);
  res.end(req.method === "HEAD" ? undefined : asset.body);
}
