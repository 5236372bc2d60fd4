// The yardsticks each phase is compared with, measured in the same run on the same data: what
// the bare tools do with the same rows and entries (COPY, ldapadd, ldapmodify, ldapsearch,
// INSERT ... SELECT, a file write, keyset SELECTs), with none of the product's bookkeeping.
import { spawnSync } from "node:child_process";
import { closeSync, createReadStream, fsyncSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { from as copyFrom, to as copyTo } from "pg-copy-streams";
import type { Group, HrData, Person } from "../../src/cli/demo/hr-data.ts";
import { PEOPLE_COLUMNS } from "../../src/cli/demo/hr-data.ts";

export interface Timed {
  seconds: number;
}

const time = async (fn: () => Promise<unknown> | unknown): Promise<number> => {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
};

/** COPY of each CSV file as it is (people, then groups) into bare tables of the same columns. */
export async function copyCsvFiles(db: pg.Client, files: { people: string; groups: string }, suffix: string): Promise<number> {
  await db.query(
    `CREATE UNLOGGED TABLE IF NOT EXISTS ref_people_${suffix} (${PEOPLE_COLUMNS.map((c) => `"${c}" text`).join(", ")})`,
  );
  await db.query(
    `CREATE UNLOGGED TABLE IF NOT EXISTS ref_groups_${suffix} ("groupId" text, name text, "gidNumber" text, members text)`,
  );
  return time(async () => {
    await pipeline(
      createReadStream(files.people),
      db.query(copyFrom(`COPY ref_people_${suffix} FROM STDIN WITH (FORMAT csv, HEADER true)`)),
    );
    await pipeline(
      createReadStream(files.groups),
      db.query(copyFrom(`COPY ref_groups_${suffix} FROM STDIN WITH (FORMAT csv, HEADER true)`)),
    );
  });
}

/**
 * What a full sync writes, written by COPY: one identity document per person and group, and one
 * planned change document per target account (3 per person: directory, table, file; 1 per group).
 */
export async function copySyncRows(db: pg.Client, data: HrData): Promise<number> {
  await db.query("CREATE UNLOGGED TABLE ref_identity (key text, doc jsonb)");
  await db.query("CREATE UNLOGGED TABLE ref_planned (key text, target text, doc jsonb)");
  const identities = async function* () {
    let chunk = "";
    for (const p of data.people()) {
      chunk += `${p.employeeId}\t${tsv(JSON.stringify(p))}\n`;
      if (chunk.length > 1 << 20) {
        yield chunk;
        chunk = "";
      }
    }
    for (const g of data.groups()) chunk += `${g.groupId}\t${tsv(JSON.stringify(g))}\n`;
    yield chunk;
  };
  const planned = async function* () {
    let chunk = "";
    for (const p of data.people()) {
      const doc = tsv(JSON.stringify(p));
      chunk += `${p.employeeId}\tldap\t${doc}\n${p.employeeId}\tsql\t${doc}\n${p.employeeId}\tcsv\t${doc}\n`;
      if (chunk.length > 1 << 20) {
        yield chunk;
        chunk = "";
      }
    }
    for (const g of data.groups()) chunk += `${g.groupId}\tldap\t${tsv(JSON.stringify(g))}\n`;
    yield chunk;
  };
  return time(async () => {
    await pipeline(identities, db.query(copyFrom("COPY ref_identity FROM STDIN")));
    await pipeline(planned, db.query(copyFrom("COPY ref_planned FROM STDIN")));
  });
}

/** COPY text format: backslashes doubled (JSON has no raw tabs or newlines). */
const tsv = (s: string) => s.replace(/\\/g, "\\\\");

/** An LDIF attribute line: base64 (`::`) for values LDIF cannot carry as plain text (non-ASCII, leading space...). */
export function ldifLine(attribute: string, value: string): string {
  // Printable ASCII only, not starting with a space, ":" or "<", not ending with a space (RFC 2849 SAFE-STRING).
  const safe = /^[ -~]*$/.test(value) && !/^[ :<]/.test(value) && !value.endsWith(" ");
  return safe ? `${attribute}: ${value}` : `${attribute}:: ${Buffer.from(value, "utf8").toString("base64")}`;
}

const rawPersonDn = (p: Pick<Person, "employeeId">, base: string) => `uid=${p.employeeId.toLowerCase()},ou=raw,${base}`;
const rawGroupDn = (g: Pick<Group, "groupId">, base: string) => `cn=${g.groupId},ou=raw,${base}`;

function personLdif(p: Person, base: string): string {
  const lines = [
    `dn: ${rawPersonDn(p, base)}`,
    "objectClass: inetOrgPerson",
    `uid: ${p.employeeId.toLowerCase()}`,
    ldifLine("cn", `${p.givenName} ${p.sn}`),
    ldifLine("sn", p.sn),
    ldifLine("givenName", p.givenName),
    `mail: ${p.mail}`,
    `title: ${p.title}`,
    `departmentNumber: ${p.department}`,
    `employeeNumber: ${p.employeeId}`,
  ];
  if (p.managerId) lines.push(`manager: ${rawPersonDn({ employeeId: p.managerId }, base)}`);
  return `${lines.join("\n")}\n`;
}

function groupLdif(g: Group, base: string): string {
  const lines = [
    `dn: ${rawGroupDn(g, base)}`,
    "objectClass: posixGroup",
    `cn: ${g.groupId}`,
    `gidNumber: ${g.gidNumber}`,
    ldifLine("description", g.name),
  ];
  for (const m of g.members) lines.push(`memberUid: ${m.toLowerCase()}`);
  return `${lines.join("\n")}\n`;
}

export interface LdapTarget {
  url: string;
  bindDn: string;
  password: string;
  baseDn: string;
}

function ldapTool(tool: string, ldap: LdapTarget, args: string[]) {
  // Output is not read: past spawnSync's buffer it would kill the tool.
  const r = spawnSync(tool, ["-x", "-H", ldap.url, "-D", ldap.bindDn, "-w", ldap.password, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  if (r.status !== 0) throw new Error(`${tool} failed (exit ${r.status}): ${r.stderr}`);
}

/** `ldapadd` of the same people and groups, as LDIF, under ou=raw of the same directory. */
export async function ldapaddSameEntries(ldap: LdapTarget, data: HrData, file: string): Promise<number> {
  const parts = [`dn: ou=raw,${ldap.baseDn}\nobjectClass: organizationalUnit\nou: raw\n`];
  for (const p of data.people()) parts.push(personLdif(p, ldap.baseDn));
  for (const g of data.groups()) parts.push(groupLdif(g, ldap.baseDn));
  writeFileSync(file, parts.join("\n"));
  return time(() => ldapTool("ldapadd", ldap, ["-f", file]));
}

/** `ldapmodify` of the same change set on the ou=raw copy: renames, moves, leavers, changed groups. */
export async function ldapmodifySameChanges(
  ldap: LdapTarget,
  before: HrData,
  after: HrData,
  groupIds: Set<string>,
  file: string,
) {
  const parts: string[] = [];
  for (let i = 0; i < before.size; i++) {
    const a = before.person(i);
    const b = after.person(i);
    if (!a) continue;
    if (!b) parts.push(`dn: ${rawPersonDn(a, ldap.baseDn)}\nchangetype: delete\n`);
    else if (a.sn !== b.sn || a.department !== b.department)
      parts.push(
        [
          `dn: ${rawPersonDn(a, ldap.baseDn)}`,
          "changetype: modify",
          "replace: sn",
          ldifLine("sn", b.sn),
          "-",
          "replace: cn",
          ldifLine("cn", `${b.givenName} ${b.sn}`),
          "-",
          "replace: departmentNumber",
          `departmentNumber: ${b.department}`,
          "-",
          "",
        ].join("\n"),
      );
  }
  for (const g of after.groups())
    if (groupIds.has(g.groupId))
      parts.push(
        [
          `dn: ${rawGroupDn(g, ldap.baseDn)}`,
          "changetype: modify",
          "replace: memberUid",
          ...g.members.map((m) => `memberUid: ${m.toLowerCase()}`),
          "-",
          "",
        ].join("\n"),
      );
  writeFileSync(file, parts.join("\n"));
  return time(() => ldapTool("ldapmodify", ldap, ["-f", file]));
}

/** `ldapsearch` with the paged-results control (pages of 500, the connector's page size) over the whole tree. */
export function ldapsearchPaged(ldap: LdapTarget): number {
  const t0 = performance.now();
  ldapTool("ldapsearch", ldap, [
    "-LLL",
    "-b",
    ldap.baseDn,
    "-E",
    "pr=500/noprompt",
    "(|(objectClass=inetOrgPerson)(objectClass=posixGroup))",
  ]);
  return (performance.now() - t0) / 1000;
}

/** INSERT ... SELECT of the exported rows into a twin table. */
export async function insertSelect(db: pg.Client, table: string): Promise<number> {
  await db.query(`CREATE TABLE ${table}_raw (LIKE ${table} INCLUDING ALL)`);
  return time(() => db.query(`INSERT INTO ${table}_raw SELECT * FROM ${table}`));
}

/** COPY ... TO STDOUT of a table: the bare read of what a full import of it reads. */
export async function copyOut(db: pg.Client, table: string): Promise<number> {
  return time(async () => {
    const stream = db.query(copyTo(`COPY ${table} TO STDOUT`));
    for await (const _ of stream);
  });
}

/** Writing the same file's bytes again (with fsync, as the CSV connector's export does). */
export async function rewriteFile(file: string, copy: string): Promise<number> {
  return time(() => {
    const bytes = readFileSync(file);
    const fd = openSync(copy, "w");
    writeSync(fd, bytes);
    fsyncSync(fd);
    closeSync(fd);
  });
}

export const readWholeFile = (file: string) => time(() => readFileSync(file));

/** Every pending export read in pages of `pageSize` with keyset SELECTs, straight from the table. */
export async function keysetPages(db: pg.Client, pageSize: number): Promise<{ seconds: number; rows: number }> {
  let rows = 0;
  const seconds = await time(async () => {
    let after = "00000000-0000-0000-0000-000000000000";
    for (;;) {
      const r = await db.query(
        `SELECT id, status, change_type, error_count, next_retry_at, attribute_changes FROM pending_export
          WHERE id > $1 ORDER BY id LIMIT $2`,
        [after, pageSize],
      );
      rows += r.rows.length;
      if (r.rows.length < pageSize) break;
      after = r.rows[r.rows.length - 1].id;
    }
  });
  return { seconds, rows };
}
