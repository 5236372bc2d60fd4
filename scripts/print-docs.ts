// Writes the generated reference under docs/ (see scripts/docs.ts); test/unit/docs-drift.test.ts compares it.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { generatedDocs } from "./docs.ts";

for (const [path, content] of Object.entries(generatedDocs())) {
  const url = new URL(`../${path}`, import.meta.url);
  mkdirSync(dirname(url.pathname), { recursive: true });
  writeFileSync(url, content);
  console.log(`wrote ${path}`);
}
