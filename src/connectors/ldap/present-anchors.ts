import type { Entry } from "ldapts";
import { LdapSession } from "./client.ts";
import type { LdapConfig } from "./config.ts";
import { type EntryMapping, mapEntry, typesFilter } from "./entries.ts";
import { loadSchema } from "./schema.ts";
import { NO_SECRETS } from "./secrets.ts";

/**
 * The anchors of every entry of the configured types under the base, per object type, read with
 * the anchor and object classes only and mapped as an import maps them (schema SUP chains, binary
 * anchors as base64). Null when any entry could not be mapped or the schema is unreadable: an
 * entry whose anchor or type is unknown must not make a stored object look deleted.
 */
export async function presentAnchors(config: LdapConfig): Promise<Map<string, Set<string>> | null> {
  const types = config.objectTypes ?? [{ name: config.objectType, objectClasses: config.objectClasses }];
  const session = new LdapSession(config);
  try {
    const schema = await loadSchema(session, config.binaryAttributes).catch(() => null);
    if (!schema) return null;
    const m: EntryMapping = {
      types,
      anchorAttribute: config.anchorAttribute,
      internal: new Set(["objectclass"]),
      schema,
      secrets: NO_SECRETS,
    };
    const present = new Map(types.map((t) => [t.name, new Set<string>()]));
    const filter = typesFilter(config.filter, types);
    const client = await session.ready();
    const pages = client.searchPaginated(config.baseDn, {
      scope: "sub",
      filter,
      attributes: [config.anchorAttribute, "objectClass"],
      explicitBufferAttributes: schema.binaryAttributeNames(),
      paged: { pageSize: config.pageSize },
    });
    for (;;) {
      const next: IteratorResult<{ searchEntries: Entry[] }> = await session.run(`search ${config.baseDn} ${filter}`, () =>
        pages.next(),
      );
      if (next.done) break;
      for (const entry of next.value.searchEntries) {
        const mapped = mapEntry(entry, m);
        if (!("object" in mapped)) return null;
        present.get(mapped.object.objectType)?.add(mapped.object.anchor);
      }
    }
    return present;
  } finally {
    await session.close();
  }
}
