import { describe, expect, it } from "vitest";
import { mismatch } from "../../src/engine/outbound/confirm.ts";
import { applyChanges } from "../../src/engine/outbound/diff.ts";

// A department group of a large organisation: 100,000 members. Each check below compared every
// value with every other before (10^9-10^10 string comparisons, minutes): with sets they are
// linear and finish well inside the test timeout, which is what fails if that comes back.
const MEMBERS = 100_000;
const dn = (i: number) => `uid=E${String(i).padStart(7, "0")},ou=people,dc=example,dc=org`;
const members = Array.from({ length: MEMBERS }, (_, i) => dn(i));

describe("multi-valued attributes the size of a large group", () => {
  it("applies ADD and REMOVE of a thousand values to 100,000 members exactly", () => {
    const added = Array.from({ length: 1000 }, (_, i) => dn(MEMBERS - 500 + i)); // half held already
    const removed = Array.from({ length: 1000 }, (_, i) => dn(i * 7));
    const after = applyChanges({ member: members }, [
      { attribute: "member", operation: "ADD", values: added },
      { attribute: "member", operation: "REMOVE", values: removed },
    ]).member as string[];
    expect(after).toHaveLength(MEMBERS + 500 - 1000);
    expect(after.at(-1)).toBe(dn(MEMBERS + 499));
    expect(after).not.toContain(dn(7));
    expect(after).toContain(dn(8));
  });

  it("confirms a CREATE of 100,000 members the import shows, and names a member it lacks", () => {
    const created = [{ attribute: "member", operation: "ADD" as const, values: members }];
    expect(mismatch(created, { attributes: { member: [...members].reverse() }, dn: null })).toBeNull();
    const short = { attributes: { member: members.slice(1) }, dn: null };
    // The message lists a few values, never the whole group.
    expect(mismatch(created, short)).toBe(
      `member: expected ADD of ${MEMBERS} values, the system shows ${MEMBERS - 1}, lacking ["${dn(0).toLowerCase()}"]`,
    );
    const replaced = [{ attribute: "member", operation: "REPLACE" as const, values: members }];
    expect(mismatch(replaced, { attributes: { member: [...members, dn(MEMBERS)] }, dn: null })).toBe(
      `member: expected REPLACE of ${MEMBERS} values, the system shows ${MEMBERS + 1}, also ["${dn(MEMBERS).toLowerCase()}"]`,
    );
    const removed = [{ attribute: "member", operation: "REMOVE" as const, values: members.slice(0, 50_000) }];
    expect(mismatch(removed, { attributes: { member: members.slice(50_000) }, dn: null })).toBeNull();
    expect(mismatch(removed, { attributes: { member: members.slice(49_990) }, dn: null })).toBe(
      `member: expected REMOVE of 50000 values, the system shows 50010, still with ${JSON.stringify(
        members.slice(49_990, 49_995).map((m) => m.toLowerCase()),
      )} and 5 more`,
    );
  });
});
