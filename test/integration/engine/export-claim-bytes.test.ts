import { Client } from "ldapts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnector } from "../../../src/connectors/index.ts";
import { CLAIM_BYTES, claimReadyExports } from "../../../src/engine/pending-export/execution.ts";
import type { Services } from "../../../src/services.ts";
import { runEngine } from "../../helpers/engine-run.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";
import { startSlapd } from "../../helpers/slapd.ts";

// An export run holds each claimed batch whole in memory: a claim stops once it holds CLAIM_BYTES
// of changes and stored attributes, so large groups are sent a few at a time whatever the batch size.
let services: Services;
let systemId: string;
let runId: string;
beforeAll(async () => {
  services = await createTestServices();
  const system = await services.systems.create({
    name: "directory",
    kind: "LDAP",
    config: { url: "ldap://127.0.0.1:1", bindDn: "cn=x", bindPassword: "x", baseDn: "dc=x" },
  });
  systemId = system.id;
  const settings = await services.systems.currentSettings(system);
  const { rows } = await q(
    "INSERT INTO run (operation, profile, connected_system_id, connection_settings_id, scope_key) VALUES ('connector.export', 'EXPORT', $1, $2, 'x') RETURNING id",
    [system.id, settings.id],
  );
  runId = rows[0].id;
});
afterAll(() => closeTestServices(services));

const q = (sql: string, values: unknown[] = []) => services.db.pool.query(sql, values);

/** memberUid values making a JSON list of about `bytes`. */
const members = (name: string, bytes: number) =>
  Array.from({ length: Math.ceil(bytes / 16) }, (_, i) => `${name}-${i}`.padEnd(12, "x"));

/** A group's object and its PENDING export, planned `age` seconds ago. */
async function insertExport(o: {
  systemId: string;
  name: string;
  changeType: string;
  age: number;
  changes: unknown[];
  stored?: Record<string, unknown>;
  dn?: string;
}) {
  const { rows } = await q(
    `INSERT INTO connector_space_object (connected_system_id, object_type, anchor, distinguished_name, attributes, content_hash, status)
     VALUES ($1, 'group', $2, $3, $4, '', $5) RETURNING id`,
    [
      o.systemId,
      o.name,
      o.dn ?? null,
      JSON.stringify(o.stored ?? {}),
      o.changeType === "CREATE" ? "PENDING_PROVISIONING" : "NORMAL",
    ],
  );
  await q(
    `INSERT INTO pending_export (connected_system_id, connector_space_object_id, change_type, status, attribute_changes, created_at)
     VALUES ($1, $2, $3, 'PENDING', $4, now() - make_interval(secs => $5))`,
    [o.systemId, rows[0].id, o.changeType, JSON.stringify(o.changes), o.age],
  );
}

/** An export with `changeBytes` of changes to an object storing `storedBytes` of attributes. */
const plan = (name: string, changeType: string, age: number, changeBytes: number, storedBytes = 0) =>
  insertExport({
    systemId,
    name,
    changeType,
    age,
    changes: [{ attribute: "memberUid", operation: "ADD", values: members(name, changeBytes) }],
    stored: { memberUid: members(name, storedBytes) },
  });

describe("claiming exports", () => {
  it("stops a claim at CLAIM_BYTES of changes and stored attributes, and the next claims take the rest in order", async () => {
    const large = Math.ceil(CLAIM_BYTES * 0.6);
    await plan("g1", "CREATE", 100, large);
    await plan("g2", "CREATE", 99, large);
    await plan("g3", "CREATE", 98, large);
    for (let i = 1; i <= 5; i++) await plan(`s${i}`, "CREATE", 90 - i, 100);
    // Small changes to a group storing many members: weighed by what it stores.
    await plan("u1", "UPDATE", 80, 100, Math.ceil(CLAIM_BYTES * 1.5));
    await plan("u2", "UPDATE", 79, 100);

    const client = await services.db.pool.connect();
    const claims: string[][] = [];
    try {
      for (;;) {
        // Each claim commits its exports EXECUTING: the next one does not take them again.
        const claimed = await claimReadyExports(client, systemId, runId, 100);
        if (!claimed.length) break;
        claims.push(claimed.map((c) => String(c.anchor)));
      }
    } finally {
      client.release();
    }
    expect(claims).toEqual([["g1", "g2"], ["g3", "s1", "s2", "s3", "s4", "s5", "u1"], ["u2"]]);
  });

  it("always takes the first export, however large", async () => {
    await q("DELETE FROM pending_export");
    await plan("huge", "CREATE", 10, CLAIM_BYTES * 3);
    await plan("next", "CREATE", 9, 100);
    const client = await services.db.pool.connect();
    try {
      const first = await claimReadyExports(client, systemId, runId, 100);
      expect(first.map((c) => c.anchor)).toEqual(["huge"]);
      expect(first[0]!.attributeChanges[0]!.values).toHaveLength(Math.ceil((CLAIM_BYTES * 3) / 16));
    } finally {
      client.release();
    }
  });

  it("sends every export of a run whose claims stop short at the byte bound, to a real directory", async () => {
    const slapd = await startSlapd();
    try {
      const config = {
        url: slapd.url,
        bindDn: slapd.bindDn,
        bindPassword: slapd.password,
        baseDn: slapd.baseDn,
        objectTypes: [{ name: "group", objectClasses: ["posixGroup"] }],
      };
      const directory = await services.systems.create({ name: "ldap", kind: "LDAP", config });
      const groups = ["big1", "big2", "big3", "small1", "small2"];
      for (const [i, name] of groups.entries()) {
        const uids = members(name, name.startsWith("big") ? CLAIM_BYTES * 0.6 : 100);
        await insertExport({
          systemId: directory.id,
          name,
          changeType: "CREATE",
          age: 100 - i,
          dn: `cn=${name},ou=groups,${slapd.baseDn}`,
          changes: [
            { attribute: "cn", operation: "ADD", values: [name] },
            { attribute: "gidNumber", operation: "ADD", values: [String(1000 + i)] },
            { attribute: "memberUid", operation: "ADD", values: uids },
          ],
        });
      }
      const connector = await createConnector("LDAP", config, { logger: services.logger });
      try {
        const run = await runEngine(services, { systemId: directory.id, profile: "EXPORT", connector });
        expect(run.status).toBe("COMPLETED");
      } finally {
        await connector.close();
      }
      const { rows } = await q(
        "SELECT status::text AS status, count(*)::int AS n FROM pending_export WHERE connected_system_id = $1 GROUP BY 1",
        [directory.id],
      );
      expect(rows).toEqual([{ status: "EXPORTED", n: 5 }]);
      const client = new Client({ url: slapd.url });
      await client.bind(slapd.bindDn, slapd.password);
      try {
        const { searchEntries } = await client.search(`ou=groups,${slapd.baseDn}`, {
          filter: "(objectClass=posixGroup)",
          attributes: ["cn", "memberUid"],
        });
        const found = Object.fromEntries(searchEntries.map((e) => [String(e.cn), [e.memberUid].flat().length]));
        expect(found).toEqual({
          big1: Math.ceil((CLAIM_BYTES * 0.6) / 16),
          big2: Math.ceil((CLAIM_BYTES * 0.6) / 16),
          big3: Math.ceil((CLAIM_BYTES * 0.6) / 16),
          small1: 7,
          small2: 7,
        });
      } finally {
        await client.unbind();
      }
    } finally {
      await slapd.stop();
    }
  });
});
