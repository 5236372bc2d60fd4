// The HR data the product benchmark and `metasync demo` import: N people with realistic names from many scripts
// (Zoë, Łukasz, 王), departments, a manager hierarchy and groups (one per department, thousands
// of members each at 100,000 people, plus small project groups), written as two CSV files the
// way an HR export would be. Deterministic: the same size gives the same bytes, so runs compare.
// `changeSet` is the 1% delta cycle: renames, moves, leavers and group membership changes.

import { once } from "node:events";
import { createWriteStream } from "node:fs";

const GIVEN = [
  "Zoë",
  "Łukasz",
  "伟",
  "José",
  "Søren",
  "Aoife",
  "François",
  "Ümit",
  "Chloé",
  "Björn",
  "Priya",
  "Kwame",
  "Олег",
  "Ana",
  "Mohammed",
  "Ingrid",
  "Nguyễn",
  "Sofía",
  "Jürgen",
  "Aiko",
  "Dvořák",
  "Małgorzata",
  "Émile",
  "Oğuz",
  "Anna",
  "John",
  "Maria",
  "David",
  "Fatima",
  "Liam",
];
const SURNAMES = [
  "Müller",
  "Kowalski",
  "王",
  "García",
  "O'Brien",
  "Øster",
  "Lefèvre",
  "Nakamura",
  "Đorđević",
  "Žukauskas",
  "Smith",
  "Иванова",
  "Núñez",
  "Håkansson",
  "李",
  "Papadopoulos",
  "Şahin",
  "Ní Bhriain",
  "Dupont-Moretti",
  "Kim",
  "Johnson",
  "Williams",
  "Brown",
  "Jones",
  "Silva",
  "Santos",
  "Rossi",
  "Bianchi",
  "Schmidt",
  "Novák",
];
const TITLES = ["Engineer", "Analyst", "Manager", "Consultant", "Technician", "Designer", "Accountant", "Director"];
/** Departments: each is an OU in the directory (a move renames the entry) and a large group. */
export const DEPARTMENTS = ["eng", "fin", "hr", "ops", "sales", "legal", "rnd", "support", "it", "mkt"];
/** People per small project group. */
const PROJECT_SIZE = 25;

export interface Person {
  employeeId: string;
  givenName: string;
  sn: string;
  mail: string;
  department: string;
  title: string;
  managerId: string;
}

export interface Group {
  groupId: string;
  name: string;
  gidNumber: string;
  members: string[];
}

/** A fixed pseudo-random number per (i, salt): the data never depends on run order. */
function pick(i: number, salt: number, n: number): number {
  let x = (i + 1) * 2654435761 + salt * 40503;
  x ^= x >>> 13;
  x = Math.imul(x, 0x5bd1e995);
  x ^= x >>> 15;
  return (x >>> 0) % n;
}

export const employeeId = (i: number) => `E${String(i).padStart(7, "0")}`;

export function person(i: number): Person {
  const department = DEPARTMENTS[pick(i, 1, DEPARTMENTS.length)] as string;
  return {
    employeeId: employeeId(i),
    givenName: GIVEN[pick(i, 2, GIVEN.length)] as string,
    sn: SURNAMES[pick(i, 3, SURNAMES.length)] as string,
    mail: `${employeeId(i).toLowerCase()}@example.org`,
    department,
    title: TITLES[pick(i, 4, TITLES.length)] as string,
    // A tree: everyone but the first reports to someone earlier, ten reports per manager.
    managerId: i === 0 ? "" : employeeId(Math.floor((i - 1) / 10)),
  };
}

/** The people as they are after `changes` (renamed, moved; leavers are absent). */
export class HrData {
  readonly left = new Set<number>();
  private readonly edits = new Map<number, Partial<Person>>();
  /** Project groups: extra members added (by person index) and members removed. */
  private readonly added = new Map<number, number[]>();
  private readonly removed = new Set<string>();

  constructor(readonly size: number) {}

  get groupCount() {
    return DEPARTMENTS.length + Math.ceil(this.size / PROJECT_SIZE);
  }

  person(i: number): Person | null {
    if (this.left.has(i)) return null;
    const edit = this.edits.get(i);
    return edit ? { ...person(i), ...edit } : person(i);
  }

  *people(): Iterable<Person> {
    for (let i = 0; i < this.size; i++) {
      const p = this.person(i);
      if (p) yield p;
    }
  }

  /** Department groups hold all their people; project group k the people k*25 .. k*25+24. */
  groups(): Group[] {
    const departments = new Map(DEPARTMENTS.map((d) => [d, [] as string[]]));
    const projects: string[][] = Array.from({ length: this.groupCount - DEPARTMENTS.length }, () => []);
    for (let i = 0; i < this.size; i++) {
      const p = this.person(i);
      if (!p) continue;
      departments.get(p.department)?.push(p.employeeId);
      const k = Math.floor(i / PROJECT_SIZE);
      if (!this.removed.has(`${k}:${i}`)) projects[k]?.push(p.employeeId);
    }
    for (const [k, extra] of this.added) for (const i of extra) if (!this.left.has(i)) projects[k]?.push(employeeId(i));
    return [
      ...DEPARTMENTS.map((d, n) => ({
        groupId: `dept-${d}`,
        name: `Department ${d}`,
        gidNumber: String(20000 + n),
        members: departments.get(d) ?? [],
      })),
      ...projects.map((members, k) => ({
        groupId: `proj-${k}`,
        name: `Projekt ${k} – Ünité`,
        gidNumber: String(30000 + k),
        members,
      })),
    ];
  }

  /**
   * Every 100th person changes, in turn: renamed (new surname), moved (new department, so a new
   * DN and department group), leaver (gone, and out of every group); and as many project groups
   * gain one member and lose another. Returns how many changed records each source sees.
   */
  changeSet(): { renamed: number; moved: number; left: number; groupsChanged: number; people: number; groups: number } {
    const counts = { renamed: 0, moved: 0, left: 0, groupsChanged: 0 };
    const touchedGroups = new Set<string>();
    for (let i = 5, n = 0; i < this.size; i += 100, n++) {
      const p = person(i);
      if (n % 3 === 0) {
        this.edits.set(i, { sn: `${p.sn}-Lindqvist` });
        counts.renamed++;
      } else if (n % 3 === 1) {
        const next = DEPARTMENTS[(DEPARTMENTS.indexOf(p.department) + 1) % DEPARTMENTS.length] as string;
        this.edits.set(i, { department: next });
        touchedGroups.add(`dept-${p.department}`).add(`dept-${next}`);
        counts.moved++;
      } else {
        this.left.add(i);
        touchedGroups.add(`dept-${p.department}`).add(`proj-${Math.floor(i / PROJECT_SIZE)}`);
        counts.left++;
      }
      // A membership change elsewhere: person i+50 joins the next project, person i+51 leaves its own.
      const k = Math.floor((i + 50) / PROJECT_SIZE);
      if (i + 51 < this.size && k + 1 < this.groupCount - DEPARTMENTS.length) {
        this.added.set(k + 1, [...(this.added.get(k + 1) ?? []), i + 50]);
        this.removed.add(`${Math.floor((i + 51) / PROJECT_SIZE)}:${i + 51}`);
        touchedGroups.add(`proj-${k + 1}`).add(`proj-${Math.floor((i + 51) / PROJECT_SIZE)}`);
      }
    }
    counts.groupsChanged = touchedGroups.size;
    return { ...counts, people: counts.renamed + counts.moved + counts.left, groups: touchedGroups.size };
  }
}

export const PEOPLE_COLUMNS = ["employeeId", "givenName", "sn", "mail", "department", "title", "managerId"] as const;
export const GROUP_COLUMNS = ["groupId", "name", "gidNumber", "members"] as const;

/** RFC 4180 quoting where needed (names such as O'Brien are fine bare, "Ní Bhriain, Jr." would not be). */
const cell = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** Streams the HR people file (never the whole file in memory). */
export async function writePeopleCsv(data: HrData, file: string): Promise<number> {
  const out = createWriteStream(file);
  out.write(`${PEOPLE_COLUMNS.join(",")}\n`);
  let n = 0;
  let chunk = "";
  for (const p of data.people()) {
    chunk += `${PEOPLE_COLUMNS.map((c) => cell(p[c])).join(",")}\n`;
    if (++n % 5000 === 0) {
      if (!out.write(chunk)) await once(out, "drain");
      chunk = "";
    }
  }
  out.end(chunk);
  await once(out, "finish");
  return n;
}

/** The HR groups file: members in one cell, separated by "|" (the CSV connector's multi-value separator). */
export async function writeGroupsCsv(data: HrData, file: string): Promise<number> {
  const out = createWriteStream(file);
  out.write(`${GROUP_COLUMNS.join(",")}\n`);
  const groups = data.groups();
  for (const g of groups) {
    const line = `${[g.groupId, g.name, g.gidNumber, g.members.join("|")].map(cell).join(",")}\n`;
    if (!out.write(line)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  return groups.length;
}
