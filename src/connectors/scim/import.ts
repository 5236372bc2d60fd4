/**
 * Full and delta import: each configured object type's resource type in turn, a page per list
 * request. Paging by startIndex/count (RFC 7644 3.4.2.4), or by cursor where the service
 * advertises RFC 9865 cursors. The watermark is, per resource type, the newest meta.lastModified
 * seen (the service's own clock) and the ids last modified exactly then; a delta asks for
 * `meta.lastModified ge` it (so a write in that same instant is not missed) and skips those ids
 * unless they changed again. A service that does not filter is read in full.
 */
import type { ConnectorObject, ImportContext, ImportPage } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import type { ScimClient } from "./client.ts";
import type { ScimConfig } from "./config.ts";
import type { MemberKeys } from "./members.ts";
import type { ScimModel } from "./model.ts";
import { flatten } from "./resources.ts";

/** Position after a page: which object type (index in config.objectTypes), where in its list. */
export interface ScimCheckpoint {
  type: number;
  startIndex: number;
  cursor?: string;
  marks: Record<string, Mark>;
}

/** Newest meta.lastModified seen for a resource type, and the ids modified at exactly that time. */
export interface Mark {
  at: string;
  ids: string[];
}

const MAX_MARK_IDS = 1000;

export interface ImportDeps {
  client: ScimClient;
  config: ScimConfig;
  model: () => Promise<ScimModel>;
  members: MemberKeys;
}

interface ListResponse {
  Resources?: Record<string, unknown>[];
  totalResults?: number;
  nextCursor?: string;
}

export function importFull(deps: ImportDeps, checkpoint: unknown, context: ImportContext): AsyncGenerator<ImportPage> {
  return read(deps, checkpoint as ScimCheckpoint | null, null, context);
}

export function importDelta(
  deps: ImportDeps,
  watermark: unknown,
  checkpoint: unknown,
  context: ImportContext,
): AsyncGenerator<ImportPage> {
  const since = typeof watermark === "object" && watermark !== null ? (watermark as Record<string, Mark>) : {};
  return read(deps, checkpoint as ScimCheckpoint | null, since, context);
}

async function* read(
  deps: ImportDeps,
  resume: ScimCheckpoint | null,
  since: Record<string, Mark> | null,
  context: ImportContext,
): AsyncGenerator<ImportPage> {
  const { client, config } = deps;
  const model = await deps.model();
  const types = Object.entries(config.objectTypes);
  const marks: Record<string, Mark> = structuredClone({ ...(since ?? {}), ...(resume?.marks ?? {}) });
  const useCursor = model.features.cursor;
  let done = 0;
  for (let t = resume?.type ?? 0; t < types.length; t++) {
    const [objectType, endpoint] = types[t] as [string, string];
    const rt = model.resourceType(endpoint);
    const resuming = resume !== null && t === resume.type;
    let startIndex = resuming ? resume.startIndex : 1;
    let cursor: string | undefined = resuming ? resume.cursor : useCursor ? "" : undefined;
    const mark = since?.[endpoint];
    const filter = mark?.at && model.features.filter.supported ? `meta.lastModified ge ${JSON.stringify(mark.at)}` : undefined;
    const seen = new Set(filter ? mark?.ids : []);
    let previousFirst: string | undefined;
    for (;;) {
      const { body } = await client.request<ListResponse>("GET", rt.endpoint, {
        signal: context.signal,
        query: {
          filter,
          count: config.pageSize,
          ...(cursor !== undefined ? { cursor } : { startIndex }),
        },
      });
      const resources = Array.isArray(body?.Resources) ? body.Resources : [];
      const objects: ConnectorObject[] = [];
      for (const r of resources) {
        if (typeof r.id !== "string" || r.id === "") continue;
        const modified = (r.meta as { lastModified?: unknown } | undefined)?.lastModified;
        if (typeof modified === "string") {
          // Read by the last import at this very time, unchanged since: not a change.
          if (modified === mark?.at && seen.has(r.id)) continue;
          const current = marks[endpoint];
          const time = Date.parse(modified);
          if (!current || time > Date.parse(current.at)) marks[endpoint] = { at: modified, ids: [r.id] };
          // Capped: beyond it, objects of that instant are read again next time (harmless, not lost).
          else if (time === Date.parse(current.at) && current.ids.length < MAX_MARK_IDS && !current.ids.includes(r.id))
            current.ids.push(r.id);
        }
        if (rt.endpoint.toLowerCase() === "/users") deps.members.learn(r.id, r.externalId);
        objects.push({ objectType, anchor: r.id, attributes: flatten(r) });
      }
      for (const o of objects) {
        const members = o.attributes.members;
        if (Array.isArray(members)) o.attributes.members = await deps.members.keysOf(members.map(String), context.signal);
      }
      const total = typeof body?.totalResults === "number" ? body.totalResults : undefined;
      // A service that ignores startIndex or hands back the same cursor would page forever.
      const firstId = typeof resources[0]?.id === "string" ? resources[0].id : undefined;
      if ((cursor !== undefined && body?.nextCursor === cursor && cursor !== "") || (firstId && firstId === previousFirst))
        throw new ConnectorError("INTERNAL", `${rt.endpoint}: the service answered the same page twice; paging stopped`, false);
      previousFirst = firstId;
      startIndex += resources.length;
      cursor = cursor !== undefined ? body?.nextCursor : undefined;
      const last =
        resources.length === 0 ||
        (useCursor ? !cursor : total !== undefined ? startIndex > total : resources.length < config.pageSize);
      const lastOfAll = last && t === types.length - 1;
      const next: ScimCheckpoint = last
        ? { type: t + 1, startIndex: 1, marks: structuredClone(marks) }
        : { type: t, startIndex, cursor, marks: structuredClone(marks) };
      yield {
        objects,
        deletes: [],
        errors: [],
        checkpoint: next,
        total: total === undefined ? undefined : done + total,
        ...(lastOfAll ? { watermark: structuredClone(marks) } : {}),
      };
      if (last) {
        done += total ?? startIndex - 1;
        break;
      }
    }
  }
  // No types, or resumed after the last page of the last one: still end with the watermark.
  if ((resume?.type ?? 0) >= types.length) yield { objects: [], deletes: [], errors: [], checkpoint: resume, watermark: marks };
}
