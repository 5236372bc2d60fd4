import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generatedDocs } from "../../scripts/docs.ts";

const root = new URL("../../", import.meta.url);

describe("generated reference under docs/", () => {
  const files = generatedDocs();

  it.each(Object.keys(files))("%s matches what the code generates (run npm run docs:print)", (path) => {
    expect(readFileSync(new URL(path, root), "utf8")).toBe(files[path]);
  });

  it("no stale generated file is left in docs/connectors", () => {
    const committed = readdirSync(new URL("docs/connectors/", root)).map((f) => `docs/connectors/${f}`);
    expect(committed.sort()).toEqual(
      Object.keys(files)
        .filter((p) => p.startsWith("docs/connectors/"))
        .sort(),
    );
  });
});
