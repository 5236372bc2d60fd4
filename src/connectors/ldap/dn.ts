/**
 * RFC 4514 distinguished names: escaping attribute values, building and splitting DNs.
 * The outbound engine uses escapeDnValue in DN expressions, so values with commas, plus
 * signs or leading '#' produce one RDN, never a different (or invalid) DN.
 */

const SPECIAL = new Set([",", "+", '"', "<", ">", ";", "="]);

/**
 * Escapes one attribute value for use in an RDN. A backslash is written as the hex pair
 * \5C rather than "\\": ldapts splits a new DN into RDN and superior at the first comma not
 * preceded by a backslash, which "\\," would defeat.
 */
export function escapeDnValue(value: string): string {
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === "\\") out += "\\5C";
    else if (ch === "\0") out += "\\00";
    else if (SPECIAL.has(ch)) out += `\\${ch}`;
    else if (i === 0 && (ch === " " || ch === "#")) out += `\\${ch}`;
    else if (i === value.length - 1 && ch === " ") out += "\\ ";
    else out += ch;
  }
  return out;
}

/** `rdnAttr=<escaped value>,parentDn`. */
export function buildDn(rdnAttr: string, value: string, parentDn: string): string {
  const rdn = `${rdnAttr}=${escapeDnValue(value)}`;
  return parentDn ? `${rdn},${parentDn}` : rdn;
}

/** Index of the first separator (unescaped `sep`) in `s` at or after `from`, or -1. */
function indexOfUnescaped(s: string, sep: string, from = 0): number {
  for (let i = from; i < s.length; i++) {
    const ch = s[i];
    if (ch === "\\") i++;
    else if (ch === '"') {
      // A quoted value (RFC 2253 compatibility): skip to the closing quote.
      const end = s.indexOf('"', i + 1);
      if (end < 0) return -1;
      i = end;
    } else if (ch === sep) return i;
  }
  return -1;
}

/** Unescaped spaces around a DN part are insignificant; an escaped trailing space ("\\ ") is kept. */
function trimDnPart(s: string): string {
  let out = s.trimStart();
  while (out.endsWith(" ") && !out.endsWith("\\ ")) out = out.slice(0, -1);
  return out;
}

/** Reverses escapeDnValue: \c and \XX hex pairs (decoded as UTF-8 bytes). */
export function unescapeDnValue(raw: string): string {
  const value = trimDnPart(raw);
  if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) return value.slice(1, -1);
  // Most values escape nothing: returned as they are (the byte walk below is for \XX escapes).
  if (!value.includes("\\")) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === "\\" && i + 1 < value.length) {
      const hex = value.slice(i + 1, i + 3);
      if (/^[0-9a-fA-F]{2}$/.test(hex)) {
        bytes.push(Number.parseInt(hex, 16));
        i += 2;
      } else {
        bytes.push(...Buffer.from(value[i + 1]!, "utf8"));
        i += 1;
      }
    } else {
      bytes.push(...Buffer.from(ch, "utf8"));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

export interface ParsedDn {
  /** The first RDN as written, e.g. "cn=Smith\, John". */
  rdn: string;
  /** Attribute type of the first RDN (of its first part when multi-valued). */
  rdnAttribute: string;
  /** Unescaped value of the first RDN's first part. */
  rdnValue: string;
  /** Everything after the first RDN ("" for a one-RDN DN). */
  parent: string;
}

/** Splits a DN into its first RDN and its parent. Throws on a DN without "attr=value". */
export function parseDn(dn: string): ParsedDn {
  const trimmed = trimDnPart(dn);
  const comma = indexOfUnescaped(trimmed, ",");
  const rdn = trimDnPart(comma < 0 ? trimmed : trimmed.slice(0, comma));
  const parent = comma < 0 ? "" : trimDnPart(trimmed.slice(comma + 1));
  const plus = indexOfUnescaped(rdn, "+");
  const first = plus < 0 ? rdn : rdn.slice(0, plus);
  const eq = first.indexOf("=");
  if (eq <= 0) throw new Error(`invalid DN "${dn}": RDN "${rdn}" has no attribute=value`);
  return {
    rdn,
    rdnAttribute: first.slice(0, eq).trim(),
    rdnValue: unescapeDnValue(first.slice(eq + 1)),
    parent,
  };
}

/** Splits `s` at every unescaped, unquoted `sep`. */
function splitUnescaped(s: string, sep: string): string[] {
  const parts: string[] = [];
  let from = 0;
  for (let at = indexOfUnescaped(s, sep); at >= 0; at = indexOfUnescaped(s, sep, from)) {
    parts.push(s.slice(from, at));
    from = at + 1;
  }
  parts.push(s.slice(from));
  return parts;
}

/**
 * One spelling per DN: every value unescaped and escaped again with escapeDnValue, spaces
 * around separators dropped, case kept. Servers answer in their own escaping (slapd writes
 * `\2B` for an added `\+`), so DNs read back and DNs computed by a rule are compared, and
 * stored, in this form. Throws on a DN without attribute=value parts.
 */
export function canonicalDn(dn: string): string {
  const rdns = trimDnPart(dn) ? splitUnescaped(trimDnPart(dn), ",") : [];
  return rdns
    .map((rdn) =>
      splitUnescaped(trimDnPart(rdn), "+")
        .map((part) => {
          const eq = part.indexOf("=");
          if (eq <= 0) throw new Error(`invalid DN "${dn}": "${part.trim()}" has no attribute=value`);
          return `${part.slice(0, eq).trim()}=${escapeDnValue(unescapeDnValue(part.slice(eq + 1)))}`;
        })
        .join("+"),
    )
    .join(",");
}

/** Every RDN of a DN as [attribute (lower case), unescaped value (lower case)] pairs. */
function rdnParts(dn: string): string[] {
  const parts: string[] = [];
  let rest = trimDnPart(dn);
  while (rest) {
    const p = parseDn(rest);
    parts.push(`${p.rdnAttribute.toLowerCase()}=${p.rdnValue.toLowerCase()}`);
    rest = p.parent;
  }
  return parts;
}

/**
 * Whether two DNs name the same entry, ignoring case and escaping style. Case-insensitive on
 * values too: the naming attributes used in practice (cn, uid, ou, dc) match case-insensitively.
 */
export function dnEquals(a: string, b: string): boolean {
  try {
    return rdnParts(a).join(",") === rdnParts(b).join(",");
  } catch {
    return a === b;
  }
}

/** Whether `dn` is `base` or below it. */
export function isDnUnder(dn: string, base: string): boolean {
  try {
    const d = rdnParts(dn);
    const b = rdnParts(base);
    return d.length >= b.length && d.slice(d.length - b.length).join(",") === b.join(",");
  } catch {
    return dn.toLowerCase().endsWith(base.toLowerCase());
  }
}
