import type { IncomingMessage, ServerResponse } from "node:http";
import { AppError } from "../errors.ts";
import type { Services } from "../services.ts";
import type { InboxWakeup } from "../systems/inbox-wakeup.ts";
import { inboxWriter } from "../systems/inbox-writer.ts";
import { acceptPush, type PushTarget, pushTarget, signatureValid } from "../systems/pushes.ts";
import type { AuthenticateRequest } from "./context.ts";
import { refuseBody, sendError, sendRefusal } from "./http.ts";

const TARGET_TTL_MS = 1000;
const HOOK_PATH = /^\/hooks\/([^/]+)$/;
const STATUS: Record<string, number> = { BAD_USER_INPUT: 400, NOT_FOUND: 404, CONFLICT: 409 };

/**
 * `POST /hooks/<system name or id>`: pushed changes into the system's real-time inbox. Answered
 * 202 once the records are committed. Authenticated by the system's webhook signature, or as an
 * operator (an API key, or loopback while no key exists). Returns false for other paths.
 */
export function createHookRoute(services: Services, authenticateRequest: AuthenticateRequest, wake: InboxWakeup) {
  const deps = { prisma: services.db.prisma, write: inboxWriter(services.db.pool), wake, secrets: services.secrets };
  // A sender pushing hundreds of times a second names the same system each time: its row and object
  // types are read once a second at most (a settings change, real-time off included, applies
  // within that second).
  const cache = new Map<string, { at: number; target: Promise<PushTarget> }>();
  const targets = (name: string) => {
    const hit = cache.get(name);
    if (hit && Date.now() - hit.at < TARGET_TTL_MS) return hit.target;
    if (cache.size > 1000) cache.clear();
    const target = pushTarget(deps, name);
    cache.set(name, { at: Date.now(), target });
    target.catch(() => cache.delete(name)); // an unknown or disabled system is asked again next time
    return target;
  };
  return async (req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> => {
    const match = HOOK_PATH.exec(path);
    if (!match) return false;
    if (req.method !== "POST") {
      sendError(res, 405, "METHOD_NOT_ALLOWED", "pushes are POSTed", { headers: { allow: "POST" } });
      return true;
    }
    if (refuseBody(req, res)) return true;
    try {
      const body = await readBody(req);
      const signature = req.headers["x-metasync-signature"];
      // Unsigned: who is calling comes first, so a stranger learns nothing, not even which systems exist.
      if (typeof signature !== "string") {
        const caller = await authenticateRequest(req);
        if (caller.role === null) {
          sendRefusal(res, caller);
          return true;
        }
        if (caller.role === "READER") {
          sendError(res, 403, "FORBIDDEN", "pushing changes needs the operator role");
          return true;
        }
      }
      const target = await targets(systemName(match[1]!));
      if (typeof signature === "string" && !signatureValid(target.webhookSecret, signature, body)) {
        sendError(
          res,
          401,
          "UNAUTHENTICATED",
          "the X-Metasync-Signature does not match this system's webhook secret, or is too old",
        );
        return true;
      }
      const ids = await acceptPush(deps, target, body);
      res.writeHead(202, { "content-type": "application/json" });
      res.end(JSON.stringify({ accepted: ids.length, ids }));
    } catch (e) {
      if (!(e instanceof AppError)) throw e;
      sendError(res, STATUS[e.code] ?? 400, e.code, e.message, { extensions: e.details });
    }
    return true;
  };
}

/** The body, whose Content-Length refuseBody has bounded. */
async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function systemName(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new AppError("BAD_USER_INPUT", "the system name in the path is not valid percent-encoding");
  }
}
