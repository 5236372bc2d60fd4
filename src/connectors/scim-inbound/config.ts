import { z } from "zod";

/**
 * SCIM_INBOUND: this system is a SCIM 2.0 service provider (served at /scim/v2/<system name>);
 * clients push Users and Groups into its real-time inbox. Nothing is contacted.
 */
export const ScimInboundConfigSchema = z
  .object({
    bearerToken: z
      .string()
      .min(16, "must be at least 16 characters")
      .max(1024)
      .describe(
        "Token SCIM clients send as Authorization: Bearer to /scim/v2/<system name>/...; stored encrypted, read back as ********.",
      ),
    userObjectType: z
      .string()
      .min(1)
      .regex(/^[^$]/, "must not start with $")
      .default("person")
      .describe("Object type (sync rules select it) that /Users resources are stored as."),
    groupObjectType: z
      .string()
      .min(1)
      .regex(/^[^$]/, "must not start with $")
      .default("group")
      .describe("Object type that /Groups resources are stored as."),
    maxResults: z
      .number()
      .int()
      .min(1)
      .max(10000)
      .default(1000)
      .describe("Most resources one list response (GET with count) returns; advertised as filter.maxResults."),
  })
  .strict()
  .refine((c) => c.userObjectType !== c.groupObjectType, {
    message: "userObjectType and groupObjectType must differ",
    path: ["groupObjectType"],
  });

export type ScimInboundConfig = z.infer<typeof ScimInboundConfigSchema>;
export const scimInboundSecretFields = ["bearerToken"] as const;
