import { builder } from "./builder.ts";

export const AttributeFilter = builder.inputType("AttributeFilter", {
  description: "Match objects on one attribute of their JSON document (single-valued attributes).",
  fields: (t) => ({
    attribute: t.string({ required: true }),
    equals: t.string(),
    startsWith: t.string(),
  }),
});
