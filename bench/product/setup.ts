// The benchmark's configuration, as a user writes it: one YAML document for `metasync apply`
// (HR people and groups from CSV; a directory, a SQL table and a CSV file as targets), plus
// the targets' own preparation (department OUs in the directory, the SQL table).
import { stringify } from "yaml";
import { DEPARTMENTS } from "../../src/cli/demo/hr-data.ts";

export interface Targets {
  hrPeople: string;
  hrGroups: string;
  csvTarget: string;
  ldap: { url: string; bindDn: string; baseDn: string };
  /** Schema and table of the SQL target, in the database named by ${BENCH_SQL_URL}. */
  sqlTable: { schema: string; table: string };
}

export const SYSTEMS = {
  hrPeople: "hr-people",
  hrGroups: "hr-groups",
  ldap: "directory",
  sql: "accounts-db",
  csv: "accounts-file",
} as const;

export const SQL_COLUMNS =
  "uid text PRIMARY KEY, display_name text NOT NULL, given_name text, sn text, mail text, department text, title text, manager_uid text";

/** Secrets stay out of the file: `metasync apply` substitutes them from the environment. */
export function applyDocument(t: Targets): string {
  const people = `ou=people,${t.ldap.baseDn}`;
  return stringify({
    connectedSystems: [
      {
        name: SYSTEMS.hrPeople,
        kind: "CSV",
        description: "HR employees",
        config: { path: t.hrPeople, anchor: "employeeId", objectType: "person" },
      },
      {
        name: SYSTEMS.hrGroups,
        kind: "CSV",
        description: "HR groups and their members",
        config: { path: t.hrGroups, anchor: "groupId", objectType: "group", multiValued: ["members"] },
      },
      {
        name: SYSTEMS.ldap,
        kind: "LDAP",
        config: {
          url: t.ldap.url,
          bindDn: t.ldap.bindDn,
          // biome-ignore lint/suspicious/noTemplateCurlyInString: substituted by metasync apply, not by JavaScript
          bindPassword: "${BENCH_LDAP_PASSWORD}",
          baseDn: t.ldap.baseDn,
          objectTypes: [
            { name: "person", objectClasses: ["inetOrgPerson"] },
            { name: "group", objectClasses: ["posixGroup"] },
          ],
        },
      },
      {
        name: SYSTEMS.sql,
        kind: "SQL",
        config: {
          // biome-ignore lint/suspicious/noTemplateCurlyInString: substituted by metasync apply, not by JavaScript
          connectionString: "${BENCH_SQL_URL}",
          schema: t.sqlTable.schema,
          table: t.sqlTable.table,
          anchor: "uid",
          objectType: "account",
        },
      },
      { name: SYSTEMS.csv, kind: "CSV", config: { path: t.csvTarget, anchor: "uid", objectType: "account" } },
    ],
    syncRules: [
      {
        name: "hr-people-in",
        connectedSystem: SYSTEMS.hrPeople,
        direction: "INBOUND",
        objectType: "person",
        metaverseObjectType: "person",
        projectToMetaverse: true,
        // A leaver's identity goes with its HR record, and with it every account.
        mvoDeletionRule: "WHEN_AUTHORITATIVE_SOURCE_DISCONNECTS",
        joinRules: [{ source: "employeeId", metaverseAttribute: "employeeId" }],
        attributeFlows: [
          ...["employeeId", "givenName", "sn", "mail", "department", "title", "managerId"].map((a) => ({ target: a, source: a })),
          { target: "displayName", expression: "givenName & ' ' & sn" },
        ],
      },
      {
        name: "hr-groups-in",
        connectedSystem: SYSTEMS.hrGroups,
        direction: "INBOUND",
        objectType: "group",
        metaverseObjectType: "group",
        projectToMetaverse: true,
        mvoDeletionRule: "WHEN_AUTHORITATIVE_SOURCE_DISCONNECTS",
        joinRules: [{ source: "groupId", metaverseAttribute: "groupId" }],
        attributeFlows: ["groupId", "name", "gidNumber", "members"].map((a) => ({ target: a, source: a })),
      },
      {
        name: "directory-people",
        connectedSystem: SYSTEMS.ldap,
        direction: "OUTBOUND",
        objectType: "person",
        metaverseObjectType: "person",
        provisionToConnector: true,
        deprovision: "DELETE",
        attributeFlows: [
          // The department is the entry's OU: a move renames the entry.
          { target: "dn", expression: `'uid=' & $lowercase(employeeId) & ',ou=' & department & ',${people}'` },
          { target: "uid", expression: "$lowercase(employeeId)" },
          { target: "cn", source: "displayName" },
          { target: "sn", source: "sn" },
          { target: "givenName", source: "givenName" },
          { target: "mail", source: "mail" },
          { target: "title", source: "title" },
          { target: "departmentNumber", source: "department" },
          { target: "employeeNumber", source: "employeeId" },
          // The manager's entry, by its DN, once it exists in the directory.
          { target: "manager", source: "managerId", reference: true },
        ],
      },
      {
        name: "directory-groups",
        connectedSystem: SYSTEMS.ldap,
        direction: "OUTBOUND",
        objectType: "group",
        metaverseObjectType: "group",
        provisionToConnector: true,
        deprovision: "DELETE",
        attributeFlows: [
          { target: "dn", expression: `'cn=' & groupId & ',ou=groups,${t.ldap.baseDn}'` },
          { target: "cn", source: "groupId" },
          { target: "gidNumber", source: "gidNumber" },
          { target: "description", source: "name" },
          // RFC 2307 groups list their members by login name.
          { target: "memberUid", expression: "$map(members, $lowercase)" },
        ],
      },
      {
        name: "accounts-db-out",
        connectedSystem: SYSTEMS.sql,
        direction: "OUTBOUND",
        objectType: "account",
        metaverseObjectType: "person",
        provisionToConnector: true,
        deprovision: "DELETE",
        attributeFlows: accountFlows(["uid", "display_name", "given_name", "sn", "mail", "department", "title", "manager_uid"]),
      },
      {
        name: "accounts-file-out",
        connectedSystem: SYSTEMS.csv,
        direction: "OUTBOUND",
        objectType: "account",
        metaverseObjectType: "person",
        provisionToConnector: true,
        deprovision: "DELETE",
        attributeFlows: accountFlows(["uid", "display_name", "given_name", "sn", "mail", "department", "title", "manager_uid"]),
      },
    ],
  });
}

function accountFlows(columns: string[]) {
  const flows: Record<string, object> = {
    uid: { target: "uid", expression: "$lowercase(employeeId)" },
    display_name: { target: "display_name", source: "displayName" },
    given_name: { target: "given_name", source: "givenName" },
    sn: { target: "sn", source: "sn" },
    mail: { target: "mail", source: "mail" },
    department: { target: "department", source: "department" },
    title: { target: "title", source: "title" },
    manager_uid: { target: "manager_uid", expression: "$lowercase(managerId)" },
  };
  return columns.map((c) => flows[c]);
}

/** LDIF of the department OUs under ou=people (the people's parents). */
export const departmentOus = (baseDn: string) =>
  DEPARTMENTS.map((d) => `dn: ou=${d},ou=people,${baseDn}\nobjectClass: organizationalUnit\nou: ${d}\n`).join("\n");
