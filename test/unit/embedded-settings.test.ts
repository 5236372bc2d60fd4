import { describe, expect, it } from "vitest";
import { embeddedServerFlags, sharedBuffersMb } from "../../src/db/embedded-settings.ts";

const GB = 2 ** 30;

describe("embedded PostgreSQL settings", () => {
  it("gives the cache a quarter of the machine's memory, between 128 MB and 2 GB", () => {
    expect(sharedBuffersMb(0.25 * GB)).toBe(128);
    expect(sharedBuffersMb(2 * GB)).toBe(512);
    expect(sharedBuffersMb(4 * GB)).toBe(1024);
    expect(sharedBuffersMb(24 * GB)).toBe(2048);
  });

  it("passes each setting as its own -c pair, the cache among them", () => {
    const flags = embeddedServerFlags(4 * GB);
    expect(flags.filter((_, i) => i % 2 === 0).every((f) => f === "-c")).toBe(true);
    expect(flags).toContain("shared_buffers=1024MB");
    expect(flags).toContain("unix_socket_directories=");
  });
});
