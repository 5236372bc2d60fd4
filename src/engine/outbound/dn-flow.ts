/**
 * The DN flow (target "dn") of an outbound rule to a directory. Its expression is string
 * concatenation (`'cn=' & givenName & ' ' & sn & ',ou=people,dc=example,dc=org'`), so every
 * value it reads is RFC 4514-escaped first, here and only here: a name holding `,` `+` `=` `"`
 * `\` `<` `>` `;` a leading `#` or NUL stays one attribute value in one RDN and can never add an
 * RDN, an attribute or change the parent. The computed DN must lie under the system's base DN.
 * A DN copied by `source` (no expression) is taken as a DN already and not escaped.
 */
import { canonicalDn, escapeDnValue, isDnUnder } from "../../connectors/ldap/dn.ts";
import type { FlowValue } from "../expressions.ts";

/** A DN flow produced a DN the rule may not write; recorded for that identity, others go on. */
export class DnFlowError extends Error {
  constructor(
    readonly code: "DN_OUTSIDE_BASE" | "INVALID_DN",
    /** The computed DN. */
    readonly location: string,
    message: string,
  ) {
    super(message);
    this.name = "DnFlowError";
  }
}

const escapeOne = (v: unknown) => (typeof v === "string" ? escapeDnValue(v) : v);

/** The same values with every string (and string in an array) escaped for use inside an RDN. */
export function escapedForDn<T extends Record<string, unknown>>(values: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) out[k] = Array.isArray(v) ? v.map(escapeOne) : escapeOne(v);
  return out as T;
}

/**
 * The computed DN in canonical spelling (canonicalDn: the form imported DNs are stored in, so
 * renames and uniqueness compare like with like). Refuses a DN that does not parse, or that is
 * not under `baseDn` (when the system has one).
 */
export function checkedDn(ruleName: string, dn: FlowValue, baseDn: string | null | undefined): FlowValue {
  if (dn === null || Array.isArray(dn)) return dn;
  const value = String(dn);
  let canonical: string;
  try {
    canonical = canonicalDn(value);
  } catch (e) {
    throw new DnFlowError(
      "INVALID_DN",
      value,
      `the DN flow of rule "${ruleName}" computed an invalid DN: ${(e as Error).message}`,
    );
  }
  if (baseDn && !isDnUnder(canonical, baseDn)) {
    throw new DnFlowError(
      "DN_OUTSIDE_BASE",
      canonical,
      `the DN flow of rule "${ruleName}" computed "${canonical}", which is outside the system's base DN "${baseDn}": not written`,
    );
  }
  return canonical;
}
