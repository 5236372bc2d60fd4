/**
 * A real SCIM 2.0 service provider for tests: scimmy + scimmy-routers (Express) with Users
 * (enterprise extension included) and Groups held in memory, on a free port.
 *
 *   const scim = await startScimServer();
 *   // scim.baseUrl ("http://127.0.0.1:<port>/scim/v2"), scim.token
 *   scim.users / scim.groups            // what the server stores, by id
 *   scim.throttle(2, "1")               // the next 2 requests answer 429 with Retry-After: 1
 *   scim.features({ patch: false })     // PATCH answered 501 and advertised unsupported
 *   scim.features({ cursor: true })     // RFC 9865 cursor paging advertised and served (scimmy has
 *                                       // none: this helper serves those lists from the same store)
 *   startScimServer({ basic: { username, password } })  // basic auth accepted besides the token
 *   scim.requests                       // count of requests seen, by "METHOD /path"
 *   await scim.stop();
 *
 * scimmy keeps its configuration and declared resources in module-level singletons, so one
 * server per test process (vitest runs each file in its own): starting a second one in the same
 * file replaces the storage of the first.
 */
import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";

type Stored = Record<string, unknown> & { id: string; meta: { created: string; lastModified: string } };

export interface ScimFeatures {
  patch: boolean;
  bulk: boolean;
  filter: boolean;
  cursor: boolean;
}

export interface ScimServer {
  baseUrl: string;
  token: string;
  users: Map<string, Stored>;
  groups: Map<string, Stored>;
  requests: Map<string, number>;
  /** The last 100 write requests as sent (bodies parsed), oldest first. */
  received: { method: string; path: string; body: unknown }[];
  /** Requests answered 429/503 by throttle() so far. */
  throttled(): number;
  throttle(count: number, retryAfter: string, status?: 429 | 503): void;
  features(features: Partial<ScimFeatures>): void;
  /** Answer 403 to every request (an account without rights) until called with false. */
  forbid(on: boolean): void;
  /** Latency added to every request, in milliseconds (0 by default). */
  delay(ms: number): void;
  stop(): Promise<void>;
}

/** A custom schema extension of User, as a SaaS application would publish one. */
export const CUSTOM_USER = "urn:ietf:params:scim:schemas:extension:badges:2.0:User";
class BadgeExtension extends SCIMMY.Types.Schema {
  static readonly #definition = new SCIMMY.Types.SchemaDefinition("Badges", CUSTOM_USER, "Badge system attributes", [
    new SCIMMY.Types.Attribute("string", "costCode", { description: "Cost code" }),
    new SCIMMY.Types.Attribute("integer", "clearance", { description: "Clearance level" }),
    new SCIMMY.Types.Attribute("string", "badges", { multiValued: true, description: "Badge numbers" }),
  ]);
  static get id() {
    return BadgeExtension.#definition.id;
  }
  static get definition() {
    return BadgeExtension.#definition;
  }
}
// scimmy's resources are module singletons: extended once per process.
let extended = false;

let lastModifiedClock = 0;
/** Strictly increasing timestamps: two writes in one millisecond still order by lastModified. */
function now(): string {
  lastModifiedClock = Math.max(Date.now(), lastModifiedClock + 1);
  return new Date(lastModifiedClock).toISOString();
}

type Found = { id?: string; filter?: { match(values: unknown[]): unknown[] } };
interface Declared {
  ingress(handler: (res: Found, data: unknown) => unknown): Declared;
  egress(handler: (res: Found) => unknown): Declared;
  degress(handler: (res: Found) => unknown): Declared;
}

function declare(
  resource: typeof SCIMMY.Resources.User | typeof SCIMMY.Resources.Group,
  store: Map<string, Stored>,
  unique: (data: Record<string, unknown>) => string | undefined,
) {
  // scimmy's handler types differ per resource class; the handlers below fit both.
  (SCIMMY.Resources.declare(resource) as unknown as Declared)
    .ingress((res: { id?: string }, data: unknown) => {
      const key = unique(data as Record<string, unknown>)?.toLowerCase();
      const clash = [...store.values()].find((s) => s.id !== res.id && key !== undefined && unique(s)?.toLowerCase() === key);
      if (clash) throw new SCIMMY.Types.Error(409, "uniqueness", `${key} is already taken`);
      const previous = res.id ? store.get(res.id) : undefined;
      if (res.id && !previous) throw new SCIMMY.Types.Error(404, "", `Resource ${res.id} not found`);
      const stamp = now();
      const { schemas: _s, meta: _m, ...rest } = JSON.parse(JSON.stringify(data)) as Record<string, unknown>;
      const id = previous?.id ?? randomUUID();
      const stored: Stored = { ...rest, id, meta: { created: previous?.meta.created ?? stamp, lastModified: stamp } };
      store.set(id, stored);
      return stored;
    })
    .egress((res: { id?: string; filter?: { match(values: unknown[]): unknown[] } }) => {
      if (res.id) {
        const found = store.get(res.id);
        if (!found) throw new SCIMMY.Types.Error(404, "", `Resource ${res.id} not found`);
        return found;
      }
      const all = [...store.values()];
      return res.filter ? res.filter.match(all) : all;
    })
    .degress((res: { id?: string }) => {
      if (!res.id || !store.delete(res.id)) throw new SCIMMY.Types.Error(404, "", `Resource ${res.id} not found`);
    });
}

export async function startScimServer(
  options: { token?: string; basic?: { username: string; password: string } } = {},
): Promise<ScimServer> {
  const token = options.token ?? `scim-${randomUUID()}`;
  const users = new Map<string, Stored>();
  const groups = new Map<string, Stored>();
  const requests = new Map<string, number>();
  let throttled = { count: 0, retryAfter: "1", status: 429 };
  let latency = 0;
  let refused = 0;
  let forbidden = false;
  const received: ScimServer["received"] = [];
  const features: ScimFeatures = { patch: true, bulk: true, filter: true, cursor: false };
  const basic = options.basic && `Basic ${Buffer.from(`${options.basic.username}:${options.basic.password}`).toString("base64")}`;
  const authorized = (header: string | undefined) => header === `Bearer ${token}` || (basic !== undefined && header === basic);

  if (!extended) {
    SCIMMY.Resources.User.extend(SCIMMY.Schemas.EnterpriseUser, false);
    SCIMMY.Resources.User.extend(BadgeExtension as unknown as typeof SCIMMY.Schemas.EnterpriseUser, false);
    extended = true;
  }
  declare(SCIMMY.Resources.User, users, (d) => (typeof d.userName === "string" ? d.userName : undefined));
  declare(SCIMMY.Resources.Group, groups, (d) => (typeof d.displayName === "string" ? d.displayName : undefined));

  const app = express();
  app.use(async (req, res, next) => {
    const key = `${req.method} ${req.path.replace(/^\/scim\/v2/, "").replace(/\/[0-9a-f-]{36}$/, "/:id")}`;
    requests.set(key, (requests.get(key) ?? 0) + 1);
    if (latency) await new Promise((r) => setTimeout(r, latency));
    if (throttled.count > 0) {
      throttled.count--;
      refused++;
      res
        .status(throttled.status)
        .set("Retry-After", throttled.retryAfter)
        .json({
          schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"],
          status: String(throttled.status),
          detail: "Too many requests",
        });
      return;
    }
    if (forbidden) {
      res
        .status(403)
        .json({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "403", detail: "Insufficient scope" });
      return;
    }
    const path = req.path;
    const off =
      (req.method === "PATCH" && !features.patch) ||
      (path.endsWith("/Bulk") && !features.bulk) ||
      (req.method === "GET" && typeof req.query.filter === "string" && !features.filter);
    if (off) {
      res
        .status(501)
        .json({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "501", detail: "Not implemented" });
      return;
    }
    if (features.cursor && path.endsWith("/ServiceProviderConfig")) {
      const send = res.send.bind(res);
      res.send = (body: unknown) =>
        send(
          typeof body === "object" && body !== null
            ? { ...JSON.parse(JSON.stringify(body)), pagination: { cursor: true, index: true, cursorTimeout: 3600 } }
            : body,
        );
    }
    const list = /\/scim\/v2\/(Users|Groups)\/?$/.exec(path);
    if (
      features.cursor &&
      list &&
      req.method === "GET" &&
      typeof req.query.cursor === "string" &&
      authorized(req.header("Authorization"))
    ) {
      const store = list[1] === "Users" ? users : groups;
      const all = [...store.values()];
      const offset = req.query.cursor ? Number(Buffer.from(req.query.cursor, "base64url").toString()) : 0;
      const count = Number(req.query.count ?? 100);
      const page = all.slice(offset, offset + count);
      const more = offset + count < all.length;
      res.json({
        schemas: ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        totalResults: all.length,
        itemsPerPage: page.length,
        Resources: page.map((r) => ({ ...r, meta: { ...r.meta, resourceType: list[1] === "Users" ? "User" : "Group" } })),
        ...(more ? { nextCursor: Buffer.from(String(offset + count)).toString("base64url") } : {}),
      });
      return;
    }
    next();
  });
  app.use(express.json({ type: ["application/scim+json", "application/json"], limit: "10mb" }), (req, _res, next) => {
    if (req.method !== "GET") {
      received.push({ method: req.method, path: req.path, body: req.body });
      if (received.length > 100) received.shift();
    }
    next();
  });
  const routers = new SCIMMYRouters({
    type: "bearer",
    docUri: "https://example.org/scim-auth",
    handler: (request: express.Request) => {
      if (!authorized(request.header("Authorization"))) throw new Error("Invalid credentials");
      return "metasync";
    },
  });
  app.use("/scim/v2", routers);
  const apply = () => SCIMMY.Config.set({ patch: features.patch, bulk: features.bulk, filter: features.filter });
  apply();

  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/scim/v2`,
    token,
    users,
    groups,
    requests,
    received,
    throttled: () => refused,
    forbid(on) {
      forbidden = on;
    },
    throttle(count, retryAfter, status = 429) {
      throttled = { count, retryAfter, status };
    },
    features(change) {
      Object.assign(features, change);
      apply();
    },
    delay(ms) {
      latency = ms;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
