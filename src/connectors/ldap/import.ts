/**
 * Full and delta import as resumable pages.
 *
 * Paging uses the RFC 2696 control, whose cookie dies with the connection, so a checkpoint
 * cannot carry it. A checkpoint records how many entries were already emitted and the anchor
 * of the last one; resuming re-runs the same search and skips that many entries (back-mdb
 * returns an unchanged directory in the same order: entry ID order). If the entry at that
 * position is not the recorded one, the directory changed meanwhile: the import then emits
 * everything again, since repeating objects is harmless and skipping wrongly is not.
 *
 * Watermark = the base entry's contextCSN read *before* the search starts, so a write that
 * commits while the search runs is seen again by the next delta instead of being missed.
 */
import { type Entry, Filter } from "ldapts";
import type { ConnectorObject, ImportContext, ImportPage, RecordError } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import type { LdapSession } from "./client.ts";
import type { LdapConfig } from "./config.ts";
import { isDnUnder } from "./dn.ts";
import { classify, type EntryMapping, mapEntry, typesFilter } from "./entries.ts";
import type { LdapSchema, ObjectTypeSpec } from "./schema.ts";
import { secretsWanted } from "./secrets.ts";

export interface LdapWatermark {
  /** Entries with entryCSN >= csn are new or changed (the one whose CSN is exactly csn was seen). */
  csn: string;
  /** accesslog: the CSN of the last log entry already reported (deletes leave no CSN elsewhere). */
  logCsn?: string;
}

interface Position {
  emitted: number;
  lastAnchor: string | null;
}
type FullCheckpoint = Position & { kind: "full"; watermark: LdapWatermark | null };
type DeltaCheckpoint = Position & {
  kind: "delta";
  from: LdapWatermark;
  watermark: LdapWatermark | null;
  stage: "deletes" | "changes";
  logCsn?: string;
};

export interface ImportDeps {
  session: LdapSession;
  config: LdapConfig;
  types: ObjectTypeSpec[];
  schema: () => Promise<LdapSchema | undefined>;
  /**
   * What it imports is sealed on the way out (createConnector with a sealer): then the secret
   * attributes a rule reads are imported; otherwise none is.
   */
  sealsSecrets: boolean;
  /** The engine's side of this import: which attributes the rules read. */
  context?: ImportContext;
}

function isPosition(v: unknown): v is Position {
  return typeof v === "object" && v !== null && typeof (v as Position).emitted === "number";
}

function isWatermark(v: unknown): v is LdapWatermark {
  return typeof v === "object" && v !== null && typeof (v as LdapWatermark).csn === "string";
}

/** Entries of a paged search, one array per server page. */
async function* searchPages(
  session: LdapSession,
  base: string,
  filter: string,
  attributes: string[],
  binary: string[],
  pageSize: number,
): AsyncGenerator<Entry[]> {
  const client = await session.ready();
  const pages = client.searchPaginated(base, {
    scope: "sub",
    filter,
    attributes,
    explicitBufferAttributes: binary,
    paged: { pageSize },
  });
  const context = `search ${base} ${filter}`;
  while (true) {
    let next: IteratorResult<{ searchEntries: Entry[] }>;
    try {
      next = await session.run(context, () => pages.next());
    } catch (err) {
      await pages.return(undefined).catch(() => {});
      throw err;
    }
    if (next.done) return;
    yield next.value.searchEntries;
  }
}

/** The largest entryCSN under `base` (from `since` on, which bounds the scan for a delta). */
async function maxCsn(session: LdapSession, base: string, since: LdapWatermark | null): Promise<string | null> {
  let max: string | null = null;
  const filter = since ? `(entryCSN>=${Filter.escape(since.csn)})` : "(entryCSN=*)";
  for await (const page of searchPages(session, base, filter, ["entryCSN"], [], 1000)) {
    for (const e of page) {
      const csn = String(e.entryCSN ?? "");
      if (csn && (max === null || csn > max)) max = csn;
    }
  }
  return max;
}

/**
 * The high-water mark before a search: the base entry's contextCSN (kept by syncprov). Without
 * syncprov there is none: then the largest entryCSN in the directory.
 */
export async function readWatermark(deps: ImportDeps, since: LdapWatermark | null = null): Promise<LdapWatermark | null> {
  const { session, config } = deps;
  const base = await session.run(`read ${config.baseDn}`, (c) =>
    c.search(config.baseDn, { scope: "base", attributes: ["contextCSN"] }),
  );
  const raw = base.searchEntries[0]?.contextCSN;
  const csns = (Array.isArray(raw) ? raw : raw ? [raw] : []).map(String).filter(Boolean);
  // Several values = several providers (one per server ID): the smallest is the safe bound.
  if (csns.length) return { csn: csns.sort()[0]! };
  const candidates = [await maxCsn(session, config.baseDn, since)];
  if (config.deltaStrategy === "accesslog") candidates.push(await maxCsn(session, config.accesslogBase, since));
  const max = candidates
    .filter((c): c is string => c !== null)
    .sort()
    .at(-1);
  return max ? { csn: max } : since;
}

async function mapping(deps: ImportDeps): Promise<{ m: EntryMapping; attributes: string[]; binary: string[] }> {
  const { config, types } = deps;
  const schema = await deps.schema();
  const wanted = config.attributes ?? ["*"];
  const wantedLower = new Set(wanted.map((a) => a.toLowerCase()));
  const internal = new Set(["entrycsn", "objectclass"].filter((a) => !wantedLower.has(a) && !wantedLower.has("*")));
  if (!wantedLower.has("entrycsn")) internal.add("entrycsn");
  const attributes = [...wanted, config.anchorAttribute, "entryCSN", "objectClass"];
  const binary = schema?.binaryAttributeNames() ?? config.binaryAttributes ?? [];
  const secrets = secretsWanted((await deps.context?.attributesRead?.()) ?? new Set(), deps.sealsSecrets);
  return { m: { types, anchorAttribute: config.anchorAttribute, internal, schema, secrets }, attributes, binary };
}

/**
 * Pages of objects from one search, resuming after `start.emitted` entries. `keep` drops entries
 * (by entryCSN) that still count as emitted: the delta's boundary entry.
 */
async function* objectPages(
  deps: ImportDeps,
  filter: string,
  start: Position,
  keep: (csn: string | undefined) => boolean,
  checkpoint: (p: Position) => unknown,
): AsyncGenerator<ImportPage> {
  const { m, attributes, binary } = await mapping(deps);
  let pos = start;
  for (let attempt = 0; attempt < 2; attempt++) {
    let skipping = pos.emitted > 0;
    let misaligned = false;
    let seen = 0;
    for await (const entries of searchPages(deps.session, deps.config.baseDn, filter, attributes, binary, deps.config.pageSize)) {
      const objects: ConnectorObject[] = [];
      const errors: RecordError[] = [];
      for (const entry of entries) {
        seen++;
        if (skipping && seen < pos.emitted) continue;
        const mapped = mapEntry(entry, m);
        const anchor = "object" in mapped ? mapped.object.anchor : mapped.error.location;
        if (skipping) {
          skipping = false;
          misaligned = anchor !== pos.lastAnchor;
          if (misaligned) break;
          continue;
        }
        pos = { emitted: seen, lastAnchor: anchor };
        if (!keep(mapped.csn)) continue;
        if ("object" in mapped) objects.push(mapped.object);
        else errors.push(mapped.error);
      }
      if (misaligned) break;
      if (objects.length || errors.length) yield { objects, deletes: [], errors, checkpoint: checkpoint(pos) };
    }
    // Misaligned, or fewer entries than were emitted: the directory changed since the
    // checkpoint, so positions mean nothing. Emit everything again (repeats are harmless).
    if (!misaligned && !skipping) return;
    pos = { emitted: 0, lastAnchor: null };
  }
}

/** Holds each page back until the next one arrives, so the watermark rides on the real last page. */
async function* withWatermark(pages: AsyncIterable<ImportPage>, watermark: () => LdapWatermark | null, empty: unknown) {
  let held: ImportPage | undefined;
  for await (const page of pages) {
    if (held) yield held;
    held = page;
  }
  yield { ...(held ?? { objects: [], deletes: [], errors: [], checkpoint: empty }), watermark: watermark() ?? undefined };
}

export async function* importFull(deps: ImportDeps, checkpoint: unknown, context: ImportContext): AsyncGenerator<ImportPage> {
  deps = { ...deps, context };
  const resume = isPosition(checkpoint) && (checkpoint as FullCheckpoint).kind === "full" ? (checkpoint as FullCheckpoint) : null;
  const watermark = resume ? resume.watermark : await readWatermark(deps);
  const filter = typesFilter(deps.config.filter, deps.types);
  const start: Position = resume ?? { emitted: 0, lastAnchor: null };
  const cp = (p: Position): FullCheckpoint => ({ kind: "full", watermark, ...p });
  yield* withWatermark(
    objectPages(deps, filter, start, () => true, cp),
    () => watermark,
    cp(start),
  );
}

/**
 * Deletes logged by the accesslog overlay after the last one reported, as anchors of this
 * connector's types. `log.csn` advances to the newest log entry seen.
 */
async function* accesslogDeletes(
  deps: ImportDeps,
  from: LdapWatermark,
  start: Position,
  cp: (p: Position) => unknown,
  log: { csn?: string },
) {
  const { config, types } = deps;
  const filter = `(&(objectClass=auditDelete)(reqResult=0)(entryCSN>=${Filter.escape(from.logCsn ?? from.csn)}))`;
  const attrs = ["reqDN", "reqEntryUUID", "reqOld", "entryCSN"];
  const schema = await deps.schema();
  let seen = 0;
  for await (const entries of searchPages(deps.session, config.accesslogBase, filter, attrs, [], config.pageSize)) {
    const deletes: ImportPage["deletes"] = [];
    for (const e of entries) {
      const csn = String(e.entryCSN ?? "");
      if (csn && (!log.csn || csn > log.csn)) log.csn = csn;
      if (++seen <= start.emitted || (from.logCsn && csn === from.logCsn)) continue;
      const dn = String(e.reqDN ?? "");
      if (!isDnUnder(dn, config.baseDn)) continue;
      const old = (Array.isArray(e.reqOld) ? e.reqOld : e.reqOld ? [e.reqOld] : []).map(String);
      const oldValues = (attr: string) =>
        old.filter((l) => l.toLowerCase().startsWith(`${attr.toLowerCase()}: `)).map((l) => l.slice(attr.length + 2));
      const anchor =
        config.anchorAttribute.toLowerCase() === "entryuuid" && e.reqEntryUUID
          ? String(e.reqEntryUUID)
          : oldValues(config.anchorAttribute)[0];
      if (!anchor) continue;
      const classes = oldValues("objectClass");
      // Without the old object classes (logold not configured) the type is unknown: report the
      // delete for every type; the engine ignores anchors it does not hold.
      const matched = classes.length ? classify(classes, types, schema) : undefined;
      if (classes.length && !matched) continue;
      for (const t of matched ? [matched] : types) deletes.push({ objectType: t.name, anchor });
    }
    if (deletes.length) yield { objects: [], deletes, errors: [], checkpoint: cp({ emitted: seen, lastAnchor: null }) };
  }
}

export async function* importDelta(
  deps: ImportDeps,
  watermark: unknown,
  checkpoint: unknown,
  context: ImportContext,
): AsyncGenerator<ImportPage> {
  deps = { ...deps, context };
  const resume =
    isPosition(checkpoint) && (checkpoint as DeltaCheckpoint).kind === "delta" ? (checkpoint as DeltaCheckpoint) : null;
  const from = resume?.from ?? (isWatermark(watermark) ? watermark : null);
  if (!from) {
    // No watermark yet: the first delta is a full read (without deletes, there is nothing to compare).
    yield* importFull(deps, null, context);
    return;
  }
  if (watermark !== null && !isWatermark(watermark)) {
    throw new ConnectorError("INVALID_INPUT", `not an LDAP watermark: ${JSON.stringify(watermark)}`, false);
  }
  const next = resume ? resume.watermark : await readWatermark(deps, from);
  const log = { csn: resume?.logCsn ?? from.logCsn };
  const cp =
    (stage: DeltaCheckpoint["stage"]) =>
    (p: Position): DeltaCheckpoint => ({ kind: "delta", from, watermark: next, stage, logCsn: log.csn, ...p });
  const final = (): LdapWatermark => ({ ...(next ?? from), ...(log.csn ? { logCsn: log.csn } : {}) });
  yield* withWatermark(deltaPages(deps, from, resume, cp, log), final, cp("changes")({ emitted: 0, lastAnchor: null }));
}

async function* deltaPages(
  deps: ImportDeps,
  from: LdapWatermark,
  resume: DeltaCheckpoint | null,
  cp: (stage: DeltaCheckpoint["stage"]) => (p: Position) => DeltaCheckpoint,
  log: { csn?: string },
): AsyncGenerator<ImportPage> {
  let start: Position = resume ?? { emitted: 0, lastAnchor: null };
  if ((resume?.stage ?? "deletes") === "deletes") {
    if (deps.config.deltaStrategy === "accesslog") yield* accesslogDeletes(deps, from, start, cp("deletes"), log);
    start = { emitted: 0, lastAnchor: null };
  }
  const filter = `(&${typesFilter(deps.config.filter, deps.types)}(entryCSN>=${Filter.escape(from.csn)}))`;
  // (entryCSN>=X) also matches the entry whose change *was* X, imported last time: skip it.
  yield* objectPages(deps, filter, start, (csn) => csn !== from.csn, cp("changes"));
}
