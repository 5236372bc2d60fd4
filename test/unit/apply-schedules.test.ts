import { describe, expect, it } from "vitest";
import { applySchedules, type ScheduleStore } from "../../src/cli/apply-schedules.ts";
import { AppError } from "../../src/errors.ts";

/** The schedule service's surface, in memory (the real one lives on the runs branch). */
function memoryStore() {
  const rows: Parameters<ScheduleStore["create"]>[0][] = [];
  const writes: string[] = [];
  const store: ScheduleStore = {
    list: async () =>
      rows.map((r, i) => ({
        id: String(i),
        name: r.name,
        enabled: r.enabled ?? true,
        cron: r.cron ?? null,
        intervalSeconds: r.intervalSeconds ?? null,
        steps: r.steps,
      })),
    create: async (input) => {
      rows.push(input);
      writes.push(`create ${input.name}`);
    },
    update: async (id, input) => {
      rows[Number(id)] = input;
      writes.push(`update ${input.name}`);
    },
  };
  return { store, writes };
}

const systems = new Map([["hr", "sys-1"]]);
const nightly = { name: "nightly", cron: "0 2 * * *", steps: [{ connectedSystem: "hr", profile: "FULL_IMPORT" }] };

describe("apply: schedules", () => {
  it("creates, then leaves an equal schedule alone, then updates a changed one", async () => {
    const { store, writes } = memoryStore();
    expect(await applySchedules(store, [nightly], systems)).toEqual(["created"]);
    expect(await applySchedules(store, [nightly], systems)).toEqual(["unchanged"]);
    expect(await applySchedules(store, [{ ...nightly, cron: "0 3 * * *" }], systems)).toEqual(["updated"]);
    expect(writes).toEqual(["create nightly", "update nightly"]);
  });

  it("names the entry of an unknown system or a malformed step", async () => {
    const { store } = memoryStore();
    await expect(
      applySchedules(store, [{ ...nightly, steps: [{ connectedSystem: "crm", profile: "EXPORT" }] }], systems),
    ).rejects.toThrow('schedules[0].steps[0]: connected system "crm" is unknown');
    await expect(
      applySchedules(store, [{ name: "x", steps: [{ connectedSystem: "hr", profile: "NAP" }] }], systems),
    ).rejects.toBeInstanceOf(AppError);
  });
});
