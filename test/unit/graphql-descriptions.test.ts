import { isInputObjectType, isInterfaceType, isObjectType } from "graphql";
import { describe, expect, it } from "vitest";
import { schema } from "../../src/schema/index.ts";

/** Input fields and arguments without a description: what GraphiQL and generated clients would show blank. */
function undescribed(): string[] {
  const missing: string[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith("__")) continue;
    if (isInputObjectType(type))
      for (const field of Object.values(type.getFields()))
        if (!field.description?.trim()) missing.push(`${type.name}.${field.name}`);
    if (isObjectType(type) || isInterfaceType(type))
      for (const field of Object.values(type.getFields()))
        for (const arg of field.args) if (!arg.description?.trim()) missing.push(`${type.name}.${field.name}(${arg.name})`);
  }
  return missing;
}

describe("GraphQL schema documentation", () => {
  it("describes every input field and every argument", () => {
    expect(undescribed()).toEqual([]);
  });
});
