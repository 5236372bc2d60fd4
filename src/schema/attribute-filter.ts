import { badInput } from "../errors.ts";
import { builder } from "./builder.ts";

export const AttributeFilter = builder.inputType("AttributeFilter", {
  description: "Match objects on one attribute of their JSON document (single-valued attributes).",
  fields: (t) => ({
    attribute: t.string({ required: true, description: "Attribute name, as stored (case-sensitive)." }),
    equals: t.string({ description: "Matches when the attribute equals this." }),
    startsWith: t.string({ description: "Matches when the attribute starts with this." }),
  }),
});

export interface AttributeFilterInput {
  attribute: string;
  equals?: string | null;
  startsWith?: string | null;
}

/** `where: {attribute, equals|startsWith}` as a jsonb path filter on the `attributes` column. */
export function attributeWhere(filter: AttributeFilterInput | null | undefined) {
  if (!filter) return {};
  if (!filter.attribute) throw badInput("where.attribute must not be empty", "where.attribute");
  if (filter.equals != null && filter.startsWith != null) throw badInput("where takes equals or startsWith, not both", "where");
  if (filter.equals != null) return { attributes: { path: [filter.attribute], equals: filter.equals } };
  if (filter.startsWith != null) return { attributes: { path: [filter.attribute], string_starts_with: filter.startsWith } };
  throw badInput("where needs equals or startsWith", "where");
}
