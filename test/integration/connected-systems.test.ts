import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../helpers/app.ts";

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.stop());

const CREATE = /* GraphQL */ `
  mutation ($input: ConnectedSystemInput!) {
    createConnectedSystem(input: $input) { id name kind config settingsVersion connectionId deleteThreshold }
  }`;
const UPDATE = /* GraphQL */ `
  mutation ($id: ID!, $input: ConnectedSystemInput!) {
    updateConnectedSystem(id: $id, input: $input) { id name config settingsVersion connectionId }
  }`;

const ldapInput = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  kind: "LDAP",
  config: {
    url: "ldap://127.0.0.1:1389",
    bindDn: "cn=admin,dc=example,dc=org",
    bindPassword: "s3cret",
    baseDn: "dc=example,dc=org",
    ...extra,
  },
});

describe("connected systems over GraphQL", () => {
  it("creates a system with defaults applied and its secret redacted", async () => {
    const r = await app.gql(CREATE, { input: ldapInput("corp-ldap") });
    expect(r.errors).toBeUndefined();
    const sys = r.data.createConnectedSystem;
    expect(sys).toMatchObject({ name: "corp-ldap", kind: "LDAP", settingsVersion: 1 });
    expect(sys.config.bindPassword).toBe("********");
    expect(sys.config.pageSize).toBe(500);
    // The secret is stored encrypted, never in the plain config column.
    const rows = await app.services.db.pool.query("SELECT config, secrets FROM connection_settings WHERE id = $1", [
      sys.connectionId,
    ]);
    expect(JSON.stringify(rows.rows[0].config)).not.toContain("s3cret");
    expect(rows.rows[0].secrets).not.toContain("s3cret");
    expect(await app.services.systems.resolveConfig(sys.connectionId)).toMatchObject({ bindPassword: "s3cret" });
  });

  it("rejects a duplicate name with CONFLICT", async () => {
    await app.gql(CREATE, { input: ldapInput("dup") });
    const r = await app.gql(CREATE, { input: ldapInput("dup") });
    expect(r.errors?.[0]?.extensions?.code).toBe("CONFLICT");
    expect(r.errors?.[0]?.message).toContain('"dup"');
  });

  it("rejects an invalid config with BAD_USER_INPUT naming the field path", async () => {
    const r = await app.gql(CREATE, { input: { name: "bad", kind: "LDAP", config: { url: "http://nope", bindDn: 3 } } });
    expect(r.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(r.errors?.[0]?.extensions?.path).toBe("config.url");
    const csv = await app.gql(CREATE, {
      input: { name: "bad-csv", kind: "CSV", config: { path: "/data/x.csv", anchor: "id", surprise: 1 } },
    });
    expect(csv.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(csv.errors?.[0]?.message).toContain("surprise");
    // A delimiter the parser cannot use (it would read the file as comma-separated).
    for (const config of [
      { path: "/data/x.csv", anchor: "id", delimiter: "\n" },
      { path: "/data/x.csv", anchor: "id", delimiter: "'", quote: "'" },
    ]) {
      const r = await app.gql(CREATE, { input: { name: "bad-csv", kind: "CSV", config } });
      expect(r.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
      expect(r.errors?.[0]?.extensions?.path).toBe("config.delimiter");
    }
    const count = await app.services.db.prisma.connectedSystem.count({ where: { name: { in: ["bad", "bad-csv"] } } });
    expect(count).toBe(0);
  });

  it("lists every config problem at once, each with its path, on create and on update", async () => {
    // Two required keys missing (bindDn, baseDn) and one of the wrong type (pageSize).
    const config = { url: "ldap://127.0.0.1:1389", bindPassword: "s3cret", pageSize: "lots" };
    const expected = [
      { path: "config.bindDn", message: expect.stringMatching(/required/) },
      { path: "config.baseDn", message: expect.stringMatching(/required/) },
      { path: "config.pageSize", message: expect.stringMatching(/number/) },
    ];
    const created = await app.gql(CREATE, { input: { name: "three-problems", kind: "LDAP", config } });
    expect(created.errors).toHaveLength(1);
    expect(created.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", path: "config.bindDn" });
    expect(created.errors?.[0]?.extensions?.problems).toEqual(expected);
    for (const p of ["config.bindDn", "config.baseDn", "config.pageSize"]) expect(created.errors?.[0]?.message).toContain(p);

    const existing = (await app.gql(CREATE, { input: ldapInput("three-problems") })).data.createConnectedSystem;
    const updated = await app.gql(UPDATE, { id: existing.id, input: { name: "three-problems", kind: "LDAP", config } });
    expect(updated.errors).toHaveLength(1);
    expect(updated.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(updated.errors?.[0]?.extensions?.problems).toEqual(expected);
  });

  it("versions settings on a config change and keeps a redacted secret on write-back", async () => {
    const created = (await app.gql(CREATE, { input: ldapInput("versioned") })).data.createConnectedSystem;
    // Writing back what was read (secret as ********) changes nothing.
    const same = await app.gql(UPDATE, { id: created.id, input: { name: "versioned", kind: "LDAP", config: created.config } });
    expect(same.data.updateConnectedSystem.settingsVersion).toBe(1);
    const changed = await app.gql(UPDATE, {
      id: created.id,
      input: { name: "versioned", kind: "LDAP", config: { ...created.config, baseDn: "ou=people,dc=example,dc=org" } },
    });
    const sys = changed.data.updateConnectedSystem;
    expect(sys.settingsVersion).toBe(2);
    expect(sys.connectionId).not.toBe(created.connectionId);
    expect(await app.services.systems.resolveConfig(sys.connectionId)).toMatchObject({
      bindPassword: "s3cret",
      baseDn: "ou=people,dc=example,dc=org",
    });
    // The old version is untouched: a run pinned to it still talks to the old base DN.
    expect(await app.services.systems.resolveConfig(created.connectionId)).toMatchObject({ baseDn: "dc=example,dc=org" });
  });

  it("reads by id and by name, deletes, and answers NOT_FOUND after", async () => {
    const created = (await app.gql(CREATE, { input: ldapInput("to-delete") })).data.createConnectedSystem;
    const byName = await app.gql(`query { connectedSystem(name: "to-delete") { id } }`);
    expect(byName.data.connectedSystem.id).toBe(created.id);
    const node = await app.gql(`query ($id: ID!) { node(id: $id) { __typename ... on ConnectedSystem { name } } }`, {
      id: created.id,
    });
    expect(node.data.node).toEqual({ __typename: "ConnectedSystem", name: "to-delete" });
    const del = await app.gql(`mutation ($id: ID!) { deleteConnectedSystem(id: $id) }`, { id: created.id });
    expect(del.data.deleteConnectedSystem).toBe(true);
    const again = await app.gql(`mutation ($id: ID!) { deleteConnectedSystem(id: $id) }`, { id: created.id });
    expect(again.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    const bad = await app.gql(`query { connectedSystem(id: "nonsense") { id } }`);
    expect(bad.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("pushes connected system changes to a WebSocket subscriber", async () => {
    const client = app.ws();
    const events = client.iterate<{ connectedSystemChanged: { change: string; connectedSystem: { name: string } | null } }>({
      query: "subscription { connectedSystemChanged { change connectedSystem { name } } }",
    });
    const first = events.next();
    // The protocol has no per-subscription ack: give the server a moment to attach.
    await new Promise((r) => setTimeout(r, 300));
    await app.gql(CREATE, { input: ldapInput("watched") });
    const got = await first;
    await events.return?.();
    expect(got.value?.data?.connectedSystemChanged).toEqual({ change: "CREATED", connectedSystem: { name: "watched" } });
  });

  it("masks unexpected errors and answers /healthz", async () => {
    const health = await fetch(`${app.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok", database: { ok: true, checkedMsAgo: expect.any(Number) } });
    const q = await app.gql("{ health { status database } }");
    expect(q.data.health).toEqual({ status: "ok", database: true });
  });
});

/** A TCP listener standing in for a new host: records every byte a client sends, then hangs up. */
async function recordingListener() {
  let received = Buffer.alloc(0);
  const server = net.createServer((socket) => {
    socket.on("data", (d) => {
      received = Buffer.concat([received, d]);
      socket.destroy();
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    received: () => received.toString("latin1"),
    close: () => new Promise((r) => server.close(r)),
  };
}

describe("stored secrets and a changed host", () => {
  const TEST = `mutation ($id: ID!) { testConnection(id: $id) { ok code } }`;

  it("refuses a new LDAP url with the kept (masked) bindPassword: the password never reaches the new host", async () => {
    const listener = await recordingListener();
    try {
      const created = (await app.gql(CREATE, { input: ldapInput("moved-ldap", { timeoutMs: 2000 }) })).data.createConnectedSystem;
      const url = `ldap://127.0.0.1:${listener.port}`;
      const moved = await app.gql(UPDATE, {
        id: created.id,
        input: { name: "moved-ldap", kind: "LDAP", config: { ...created.config, url } },
      });
      expect(moved.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
      expect(moved.errors?.[0]?.message).toContain("bindPassword");
      expect(moved.errors?.[0]?.extensions?.path).toBe("config.bindPassword");
      // Left out instead of masked: the same.
      const { bindPassword: _, ...withoutPassword } = created.config;
      const omitted = await app.gql(UPDATE, {
        id: created.id,
        input: { name: "moved-ldap", kind: "LDAP", config: { ...withoutPassword, url: `${url}/` } },
      });
      expect(omitted.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
      await app.gql(TEST, { id: created.id });
      expect(listener.received()).not.toContain("s3cret");

      // Given again, the new password goes to the new host (the listener does see binds).
      const again = await app.gql(UPDATE, {
        id: created.id,
        input: { name: "moved-ldap", kind: "LDAP", config: { ...created.config, url, bindPassword: "n3w-pass" } },
      });
      expect(again.errors).toBeUndefined();
      expect((await app.gql(TEST, { id: created.id })).data.testConnection.ok).toBe(false);
      expect(listener.received()).toContain("n3w-pass");
      expect(listener.received()).not.toContain("s3cret");
    } finally {
      await listener.close();
    }
  });

  it("keeps the masked secret when the host stays (other fields, same url spelled with its default port)", async () => {
    const created = (await app.gql(CREATE, { input: ldapInput("same-host", { url: "ldap://ldap.example.org" }) })).data
      .createConnectedSystem;
    const r = await app.gql(UPDATE, {
      id: created.id,
      input: {
        name: "same-host",
        kind: "LDAP",
        config: { ...created.config, url: "ldap://LDAP.example.org:389", baseDn: "ou=people,dc=example,dc=org" },
      },
    });
    expect(r.errors).toBeUndefined();
    expect(await app.services.systems.resolveConfig(r.data.updateConnectedSystem.connectionId)).toMatchObject({
      bindPassword: "s3cret",
    });
    // ldap:// to ldaps:// (or back) is another endpoint too.
    const tls = await app.gql(UPDATE, {
      id: created.id,
      input: { name: "same-host", kind: "LDAP", config: { ...created.config, url: "ldaps://ldap.example.org:389" } },
    });
    expect(tls.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("refuses a new SCIM baseUrl with the kept token", async () => {
    const created = (
      await app.gql(CREATE, {
        input: { name: "scim-moved", kind: "SCIM", config: { baseUrl: "https://scim.example.org/v2", bearerToken: "t0ken" } },
      })
    ).data.createConnectedSystem;
    const r = await app.gql(UPDATE, {
      id: created.id,
      input: { name: "scim-moved", kind: "SCIM", config: { ...created.config, baseUrl: "https://evil.example.net/v2" } },
    });
    expect(r.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(r.errors?.[0]?.message).toContain("bearerToken");
  });
});

describe("config values PostgreSQL or a socket cannot take", () => {
  it("refuses a NUL character or a port outside 1-65535 with BAD_USER_INPUT and the path", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [ldapInput("nul-basedn", { baseDn: "dc=example\u0000,dc=org" }).config, "config.baseDn"],
      [
        ldapInput("nul-nested", { objectTypes: [{ name: "pers\u0000on", objectClasses: ["person"] }] }).config,
        "config.objectTypes.0.name",
      ],
      [ldapInput("port", { url: "ldap://127.0.0.1:99999" }).config, "config.url"],
      [ldapInput("port0", { url: "ldap://127.0.0.1:0" }).config, "config.url"],
    ];
    for (const [config, path] of cases) {
      const r = await app.gql(CREATE, { input: { name: `bad-${path.replaceAll(".", "-")}`, kind: "LDAP", config } });
      expect(r.errors?.[0]?.extensions?.code, path).toBe("BAD_USER_INPUT");
      expect(r.errors?.[0]?.extensions?.path, path).toBe(path);
    }
    const sql = await app.gql(CREATE, {
      input: {
        name: "sql-port",
        kind: "SQL",
        config: { connectionString: "postgresql://u:pw@127.0.0.1:99999/db", table: "people", anchor: "id" },
      },
    });
    expect(sql.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", path: "config.connectionString" });
    expect(sql.errors?.[0]?.message).not.toContain("pw@");
    const csv = await app.gql(CREATE, {
      input: { name: "csv-nul", kind: "CSV", config: { path: "/data/x.csv", anchor: "i\u0000d" } },
    });
    expect(csv.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", path: "config.anchor" });
  });
});
