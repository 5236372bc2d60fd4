// Writes schema.graphql, the committed contract; test/integration/schema-drift.test.ts compares it.
import { writeFileSync } from "node:fs";
import { printSchema } from "graphql";
import { schema } from "../src/schema/index.ts";

writeFileSync(new URL("../schema.graphql", import.meta.url), `${printSchema(schema)}\n`);
console.log("wrote schema.graphql");
