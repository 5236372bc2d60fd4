import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { person } from "./hr-data.ts";

/** The benchmark's department codes as an HR file names them. */
const DEPARTMENT_NAMES: Record<string, string> = {
  eng: "Engineering",
  fin: "Finance",
  hr: "Human Resources",
  ops: "Operations",
  sales: "Sales",
  legal: "Legal",
  rnd: "Research",
  support: "Customer Support",
  it: "IT",
  mkt: "Marketing",
};

const COLUMNS = ["employeeId", "givenName", "sn", "mail", "department", "title", "managerId", "status", "endDate"] as const;

/** About one person in 29 has left: still in the HR file, with status "leaver" and an end date. */
export const isLeaver = (i: number) => i % 29 === 7;

const cell = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/**
 * The demo's HR file: the benchmark's generated people (names from many scripts, departments, a
 * manager tree; hr-data.ts) with department names, an employment status and leavers' end dates.
 * Deterministic: the same size gives the same bytes.
 */
export async function writeDemoPeople(size: number, file: string): Promise<{ people: number; leavers: number }> {
  const out = createWriteStream(file);
  out.write(`${COLUMNS.join(",")}\n`);
  let leavers = 0;
  for (let i = 0; i < size; i++) {
    const p = person(i);
    const leaver = isLeaver(i);
    if (leaver) leavers++;
    const row: Record<(typeof COLUMNS)[number], string> = {
      ...p,
      department: DEPARTMENT_NAMES[p.department] ?? p.department,
      status: leaver ? "leaver" : "active",
      // A fixed date per leaver in 2026 (never "today": the file must not depend on when it is made).
      endDate: leaver ? `2026-${String((i % 12) + 1).padStart(2, "0")}-${String((i % 28) + 1).padStart(2, "0")}` : "",
    };
    if (!out.write(`${COLUMNS.map((c) => cell(row[c])).join(",")}\n`)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  return { people: size, leavers };
}
