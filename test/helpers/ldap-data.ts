import { Client } from "ldapts";
import type { ConnectorObject, ImportContext, ImportPage } from "../../src/connectors/connector.ts";
import type { Slapd } from "./slapd.ts";

/** Adds `count` inetOrgPerson entries uid=user<i> under ou=people, 8 requests in flight. */
export async function seedPeople(ldap: Slapd, count: number, from = 0): Promise<void> {
  const client = new Client({ url: ldap.url });
  try {
    await client.bind(ldap.bindDn, ldap.password);
    let next = from;
    const worker = async () => {
      while (next < from + count) {
        const i = next++;
        await client.add(`uid=user${i},ou=people,${ldap.baseDn}`, {
          objectClass: "inetOrgPerson",
          uid: `user${i}`,
          cn: `User ${i}`,
          sn: `Number${i}`,
          mail: `user${i}@example.org`,
        });
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  } finally {
    await client.unbind();
  }
}

/** Runs `fn` with an admin-bound ldapts client. */
export async function withAdmin<T>(ldap: Slapd, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ url: ldap.url });
  try {
    await client.bind(ldap.bindDn, ldap.password);
    return await fn(client);
  } finally {
    await client.unbind();
  }
}

/** An import context for connectors that do not need the stored state (LDAP). */
export const noContext: ImportContext = {
  storedHashes: async () => new Map(),
  async *storedAnchors() {},
};

/** Every page of an import. */
export async function collect(pages: AsyncIterable<ImportPage>): Promise<ImportPage[]> {
  const out: ImportPage[] = [];
  for await (const page of pages) out.push(page);
  return out;
}

export function objectsOf(pages: ImportPage[]): ConnectorObject[] {
  return pages.flatMap((p) => p.objects);
}
