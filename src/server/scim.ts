import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import SCIMMY from "scimmy";
import { type ScimInboundConfig, ScimInboundConfigSchema } from "../connectors/scim-inbound/config.ts";
import {
  GROUP,
  RESOURCE_KINDS,
  type ResourceKind,
  resourceTypeDocument,
  schemaDocuments,
  serviceProviderConfig,
  USER,
} from "../connectors/scim-inbound/schemas.ts";
import type { Services } from "../services.ts";
import type { InboxWakeup } from "../systems/inbox-wakeup.ts";
import { type ListParams, ScimProvider } from "../systems/scim-provider/service.ts";
import { RateLimiter } from "../util/rate-limiter.ts";
import { MAX_BODY_BYTES } from "./http.ts";
import { serverLimits } from "./limits.ts";

const TARGET_TTL_MS = 1000;
const SCIM_PATH = /^\/scim\/v2\/([^/]+)(\/.*)?$/;
const CONTENT_TYPE = "application/scim+json";
const ERROR_MESSAGE = "urn:ietf:params:scim:api:messages:2.0:Error";
const ScimError = SCIMMY.Types.Error;
type Json = Record<string, unknown>;

interface Target {
  systemId: string;
  name: string;
  config: ScimInboundConfig;
  tokenDigest: Buffer;
  realtime: boolean;
}

const digest = (token: string) => createHash("sha256").update(token).digest();

/** RFC 7644 3.12: { schemas, status (a string), scimType, detail }. */
function sendScimError(res: ServerResponse, status: number, scimType: string | null, detail: string, headers: Json = {}) {
  const body = { schemas: [ERROR_MESSAGE], status: String(status), ...(scimType ? { scimType } : {}), detail };
  send(res, status, body, headers);
}

function send(res: ServerResponse, status: number, body: Json | null, headers: Json = {}) {
  // A body left unread (refused before reading it) must not be parsed as the next request.
  const close = res.req && !res.req.complete ? { connection: "close" } : {};
  res.writeHead(status, { ...(body ? { "content-type": CONTENT_TYPE } : {}), ...close, ...(headers as Record<string, string>) });
  res.end(body ? JSON.stringify(body) : undefined);
}

/**
 * `/scim/v2/<system name>/...`: the SCIM 2.0 service provider of a SCIM_INBOUND system (RFC 7644):
 * Users and Groups (POST, GET, PUT, PATCH, DELETE), /ServiceProviderConfig, /Schemas,
 * /ResourceTypes. Authenticated by the system's bearerToken; mounted behind the server's origin
 * check; bodies bounded like GraphQL's. Writes are pushes into the system's real-time inbox,
 * durable before the answer (src/systems/scim-provider). Returns false for other paths.
 */
export function createScimRoute(services: Services, wake: InboxWakeup) {
  const { prisma, pool } = services.db;
  // Wrong tokens are counted per client address, as bad API keys are (auth.ts): past the limit the
  // address is answered 429 before its token is even compared, so guessing a token slows to a crawl.
  const perMinute = serverLimits(services.config).authFailuresPerMinute;
  const failures = new RateLimiter({ capacity: perMinute, refillPerSecond: perMinute / 60 });
  // Tokens seen valid: their holder is never throttled for a guesser's failures on the same address.
  const provenTokens = new Set<string>();
  // A client provisioning thousands of users names the same system each time: its row, config and
  // token are read once a second at most (a token change applies within that second).
  const cache = new Map<string, { at: number; target: Promise<Target | null> }>();
  const load = async (name: string): Promise<Target | null> => {
    const system = await prisma.connectedSystem.findUnique({ where: { name } });
    if (system?.kind !== "SCIM_INBOUND") return null;
    const settings = await prisma.connectionSettings.findUniqueOrThrow({
      where: { connectedSystemId_version: { connectedSystemId: system.id, version: system.currentSettingsVersion } },
    });
    const secrets = settings.secrets ? services.secrets.open(settings.secrets) : {};
    const config = ScimInboundConfigSchema.parse({ ...(settings.config as Json), ...secrets });
    return {
      systemId: system.id,
      name: system.name,
      config,
      tokenDigest: digest(config.bearerToken),
      realtime: !!(system.realtime as { enabled?: boolean } | null)?.enabled,
    };
  };
  const targets = (name: string) => {
    const hit = cache.get(name);
    if (hit && Date.now() - hit.at < TARGET_TTL_MS) return hit.target;
    if (cache.size > 1000) cache.clear();
    const target = load(name);
    cache.set(name, { at: Date.now(), target });
    target.catch(() => cache.delete(name));
    return target;
  };

  return async (req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> => {
    const match = SCIM_PATH.exec(path);
    if (!match) return false;
    try {
      await serve(req, res, match[1]!, match[2] ?? "/");
    } catch (e) {
      if (e instanceof ScimError) {
        const { status, scimType, message } = e as unknown as { status: number; scimType?: string; message: string };
        sendScimError(res, status, scimType ?? null, message);
      } else {
        services.logger.error({ err: e, path }, "SCIM request failed");
        if (!res.headersSent) sendScimError(res, 500, null, "internal error; the server log has the details");
        else res.destroy();
      }
    }
    return true;
  };

  async function serve(req: IncomingMessage, res: ServerResponse, segment: string, rest: string) {
    // Who is calling comes first: without a bearer token nothing is said, not even whether the system exists.
    const presented = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1];
    if (!presented) return sendScimError(res, 401, null, "send Authorization: Bearer <the system's bearerToken>", bearer);
    const address = req.socket.remoteAddress ?? "unknown";
    const presentedDigest = digest(presented);
    const wait = provenTokens.has(presentedDigest.toString("hex")) ? 0 : failures.waitMs(address);
    if (wait > 0)
      return sendScimError(res, 429, null, "too many wrong bearer tokens from this address; try again later", {
        "retry-after": String(Math.ceil(wait / 1000)),
      });
    let name: string;
    try {
      name = decodeURIComponent(segment);
    } catch {
      throw new ScimError(400, "invalidSyntax", "the system name in the path is not valid percent-encoding");
    }
    const target = await targets(name);
    if (!target)
      return sendScimError(res, 404, null, `no SCIM_INBOUND connected system named ${JSON.stringify(name.slice(0, 200))}`);
    if (!timingSafeEqual(presentedDigest, target.tokenDigest)) {
      failures.take(address);
      return sendScimError(res, 401, null, "the bearer token is not this system's bearerToken", bearer);
    }
    if (provenTokens.size > 1000) provenTokens.clear();
    provenTokens.add(presentedDigest.toString("hex"));
    if (!target.realtime)
      return sendScimError(
        res,
        503,
        null,
        `real-time is off for ${target.name}: set realtime: { enabled: true } on it to take pushes`,
      );

    const url = new URL(req.url ?? "/", "http://local");
    const scheme = (req.socket as TLSSocket).encrypted ? "https" : "http";
    const base = `${scheme}://${req.headers.host ?? "localhost"}/scim/v2/${encodeURIComponent(target.name)}`;
    const provider = new ScimProvider(pool, wake, { systemId: target.systemId, config: target.config }, base);
    const parts = rest.split("/").filter(Boolean).map(decodeURIComponent);
    const method = req.method ?? "GET";
    const [collection, id, ...extra] = parts;

    if (collection === "ServiceProviderConfig" && !id) {
      allow(method, ["GET"]);
      return send(res, 200, serviceProviderConfig(base, target.config.maxResults));
    }
    if (collection === "ResourceTypes") {
      allow(method, ["GET"]);
      const docs = RESOURCE_KINDS.map((k) => resourceTypeDocument(k, base));
      return id ? send(res, 200, one(docs, id)) : send(res, 200, listOf(docs));
    }
    if (collection === "Schemas") {
      allow(method, ["GET"]);
      const docs = schemaDocuments(base);
      return id ? send(res, 200, one(docs, id)) : send(res, 200, listOf(docs));
    }
    const kind: ResourceKind | undefined = collection === "Users" ? USER : collection === "Groups" ? GROUP : undefined;
    if (!kind || extra.length) throw new ScimError(404, null as never, `no SCIM endpoint ${rest}`);
    const params = Object.fromEntries(url.searchParams) as ListParams;
    const location = (r: Json) => ({ location: String((r.meta as Json | undefined)?.location ?? "") });
    if (!id) {
      allow(method, ["GET", "POST"]);
      if (method === "GET") return send(res, 200, await provider.list(kind, params));
      const created = await provider.create(kind, await readJson(req));
      return send(res, 201, created, location(created));
    }
    allow(method, ["GET", "PUT", "PATCH", "DELETE"]);
    if (method === "GET") return send(res, 200, await provider.get(kind, id, params));
    if (method === "DELETE") {
      await provider.remove(kind, id);
      return send(res, 204, null);
    }
    const body = await readJson(req);
    const answer = method === "PUT" ? await provider.replace(kind, id, body) : await provider.patch(kind, id, body);
    return send(res, 200, answer, location(answer));
  }
}

const bearer = { "www-authenticate": 'Bearer realm="scim"' };

function allow(method: string, methods: string[]) {
  if (!methods.includes(method))
    throw new ScimError(405, null as never, `${method} is not supported here (allowed: ${methods.join(", ")})`);
}

function one(docs: Json[], id: string): Json {
  const found = docs.find((d) => d.id === id);
  if (!found) throw new ScimError(404, null as never, `${id} not found`);
  return found;
}

const listOf = (docs: Json[]) => ({
  schemas: ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
  totalResults: docs.length,
  startIndex: 1,
  itemsPerPage: docs.length,
  Resources: docs,
});

/**
 * The JSON body: Content-Length required and bounded (as GraphQL bodies), and a JSON media type
 * (application/scim+json or application/json), which a browser page of another origin cannot send
 * without a preflight it would not pass: no write by a mere form.
 */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const declared = req.headers["content-length"];
  if (declared === undefined) throw new ScimError(411, "invalidSyntax", "a body needs a Content-Length header");
  if (Number(declared) > MAX_BODY_BYTES) {
    throw new ScimError(413, null as never, `request body over ${MAX_BODY_BYTES} bytes`);
  }
  const type = req.headers["content-type"]?.split(";")[0]?.trim().toLowerCase();
  if (type !== CONTENT_TYPE && type !== "application/json")
    throw new ScimError(415, "invalidSyntax", `send the body as Content-Type: ${CONTENT_TYPE} (or application/json)`);
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  let nul = false;
  let body: unknown;
  try {
    // PostgreSQL stores no U+0000 in text or jsonb: found while parsing, refused as the client's value.
    body = JSON.parse(Buffer.concat(chunks).toString("utf8"), (key, value) => {
      if (key.includes("\u0000") || (typeof value === "string" && value.includes("\u0000"))) nul = true;
      return value;
    });
  } catch (e) {
    throw new ScimError(400, "invalidSyntax", `the body is not JSON: ${(e as Error).message}`);
  }
  if (nul)
    throw new ScimError(
      400,
      "invalidValue",
      "a value or attribute name contains a NUL character (U+0000), which cannot be stored",
    );
  return body;
}
