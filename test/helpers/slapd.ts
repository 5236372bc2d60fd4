/**
 * A private OpenLDAP server for tests (see ../shared/STACK.md, "OpenLDAP for tests").
 *
 *   const ldap = await startSlapd({ overlays: ["accesslog"] });
 *   // ldap.url, ldap.baseDn ("dc=example,dc=org"), ldap.bindDn, ldap.password, ldap.dir
 *   // base entries exist: ldap.baseDn, ou=people,<baseDn>, ou=groups,<baseDn>
 *   await ldap.restart(); // stop, then start again on the same port with the same data
 *   await ldap.restart(async () => { ... }); // ... runs while the server is down
 *   await ldap.stop();    // SIGTERM, await exit, remove the temp dir
 *
 * With `tls: true` it also listens on ldaps:// (ldapsUrl) and offers StartTLS on ldap://, with a
 * fresh self-signed certificate for 127.0.0.1 (caCert, PEM) made by openssl.
 *
 * With `sample: "openldap"` the directory holds OpenLDAP's own sample data instead of our base
 * entries (test/fixtures/openldap/test-ordered.ldif: dc=example,dc=com, ou=People with
 * OpenLDAPperson entries such as Barbara Jensen, ou=Groups), loaded with ldapadd.
 *
 * Overlays: "accesslog" (a cn=accesslog database logging successful writes, with the old
 * objectClass/entryUUID of deleted entries in reqOld), "syncprov", "memberof", "refint".
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "ldapts";

export type SlapdOverlay = "accesslog" | "syncprov" | "memberof" | "refint";

export interface SlapdOptions {
  overlays?: SlapdOverlay[];
  /** Default "dc=example,dc=org". */
  baseDn?: string;
  tls?: boolean;
  /** "openldap": load OpenLDAP's sample directory (base dc=example,dc=com) instead of our base entries. */
  sample?: "openldap";
}

/** OpenLDAP's sample directory, as shipped in its source tree (with its licence beside it). */
export const OPENLDAP_SAMPLE_LDIF = path.join(import.meta.dirname, "../fixtures/openldap/test-ordered.ldif");

export interface Slapd {
  url: string;
  port: number;
  baseDn: string;
  bindDn: string;
  password: string;
  /** The temp dir holding slapd.conf and the databases. */
  dir: string;
  /** With `tls`: the ldaps:// URL and the PEM certificate to trust. */
  ldapsUrl?: string;
  caCert?: string;
  stop(): Promise<void>;
  /**
   * Stops and starts again on the same port with the same data (a server that went away and
   * came back); `whileDown` runs in between, e.g. to see what a client does meanwhile.
   */
  restart(whileDown?: () => Promise<void>): Promise<void>;
  /** SIGSTOP: connections stay open, nothing is answered (a hung server); resume() continues it. */
  pause(): void;
  resume(): void;
  /** The administrator's password changed (rootpw), as an operator would: restart with the new one. */
  changePassword(next: string): Promise<void>;
}

const SLAPD = "/usr/sbin/slapd";

/** {SSHA} as slappasswd writes it: base64(sha1(password + salt) + salt). */
function ssha(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash("sha1").update(password).update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString("base64")}`;
}

function slapdConf(
  dir: string,
  baseDn: string,
  bindDn: string,
  password: string,
  overlays: SlapdOverlay[],
  tls: boolean,
): string {
  const modules = ["back_mdb", ...overlays].map((m) => `moduleload ${m}`).join("\n");
  const mdb = (suffix: string, db: string, root: boolean) =>
    [
      "database mdb",
      // The map's upper bound, not a reservation (the file grows as entries are written). A person
      // entry of the benchmark takes about 1,355 bytes of it: 1 GB filled up after ~845,000 of the
      // 1,000,000-identity run's creates, and every later add failed.
      "maxsize 8589934592",
      "dbnosync",
      `suffix "${suffix}"`,
      ...(root ? [`rootdn "${bindDn}"`, `rootpw ${ssha(password)}`] : []),
      `directory ${path.join(dir, db)}`,
    ].join("\n");
  const parts = [
    "include /etc/ldap/schema/core.schema",
    "include /etc/ldap/schema/cosine.schema",
    "include /etc/ldap/schema/inetorgperson.schema",
    "include /etc/ldap/schema/nis.schema",
    // OpenLDAPperson (SUP inetOrgPerson) and friends, used by OpenLDAP's sample data.
    "include /etc/ldap/schema/openldap.schema",
    "modulepath /usr/lib/ldap",
    modules,
    `pidfile ${path.join(dir, "slapd.pid")}`,
    "sizelimit unlimited",
  ];
  if (tls) parts.push(`TLSCertificateFile ${path.join(dir, "cert.pem")}`, `TLSCertificateKeyFile ${path.join(dir, "key.pem")}`);
  // The log database must be declared before the database whose writes it records.
  if (overlays.includes("accesslog")) {
    parts.push(mdb("cn=accesslog", "accesslog", false), "index reqStart,reqType eq");
  }
  parts.push(mdb(baseDn, "db", true), "index objectClass eq", "index uid,cn,mail eq", "index entryCSN,entryUUID eq");
  if (overlays.includes("syncprov")) parts.push("overlay syncprov");
  if (overlays.includes("memberof")) parts.push("overlay memberof");
  if (overlays.includes("refint")) parts.push("overlay refint", "refint_attributes member");
  if (overlays.includes("accesslog")) {
    parts.push(
      "overlay accesslog",
      "logdb cn=accesslog",
      "logops writes",
      "logsuccess TRUE",
      "logold (objectClass=*)",
      "logoldattr objectClass entryUUID",
    );
  }
  return `${parts.join("\n")}\n`;
}

/** A self-signed certificate valid for 127.0.0.1 (cert.pem, key.pem in `dir`). */
function makeCertificate(dir: string): void {
  const r = spawnSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"].concat([
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      path.join(dir, "key.pem"),
      "-out",
      path.join(dir, "cert.pem"),
    ]),
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts slapd on `port`; resolves once it accepts a bind, rejects with its stderr if it exits. */
async function launch(conf: string, port: number, bindDn: string, password: string, tlsPort?: number): Promise<ChildProcess> {
  const urls = [`ldap://127.0.0.1:${port}/`, ...(tlsPort ? [`ldaps://127.0.0.1:${tlsPort}/`] : [])];
  const child = spawn(SLAPD, ["-d", "none", "-f", conf, "-h", urls.join(" ")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  let exited = false;
  child.once("exit", () => {
    exited = true;
  });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`slapd exited: ${stderr.trim()}`);
    const client = new Client({ url: `ldap://127.0.0.1:${port}`, timeout: 1000, connectTimeout: 1000 });
    try {
      await client.bind(bindDn, password);
      return child;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    } finally {
      await client.unbind().catch(() => {});
    }
  }
  child.kill("SIGKILL");
  throw new Error(`slapd did not accept a bind within 10 s: ${stderr.trim()}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

async function addBaseEntries(url: string, baseDn: string, bindDn: string, password: string): Promise<void> {
  const client = new Client({ url, timeout: 5000 });
  try {
    await client.bind(bindDn, password);
    const dc = /^dc=([^,]+)/i.exec(baseDn)?.[1] ?? "example";
    await client.add(baseDn, { objectClass: ["dcObject", "organization"], dc, o: dc });
    await client.add(`ou=people,${baseDn}`, { objectClass: "organizationalUnit", ou: "people" });
    await client.add(`ou=groups,${baseDn}`, { objectClass: "organizationalUnit", ou: "groups" });
  } finally {
    await client.unbind();
  }
}

/** Adds an LDIF file's entries with OpenLDAP's own ldapadd (ldap-utils), as an administrator would. */
export function loadLdif(url: string, bindDn: string, password: string, file: string): void {
  const r = spawnSync("ldapadd", ["-x", "-H", url, "-D", bindDn, "-w", password, "-f", file], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ldapadd ${file} failed (exit ${r.status}): ${r.stderr || r.stdout}`);
}

export async function startSlapd(options: SlapdOptions = {}): Promise<Slapd> {
  const baseDn = options.baseDn ?? (options.sample === "openldap" ? "dc=example,dc=com" : "dc=example,dc=org");
  const bindDn = `cn=admin,${baseDn}`;
  const dir = mkdtempSync(path.join(tmpdir(), "metasync-slapd-"));
  chmodSync(dir, 0o755);
  mkdirSync(path.join(dir, "db"));
  mkdirSync(path.join(dir, "accesslog"));
  const conf = path.join(dir, "slapd.conf");
  const tls = options.tls === true;
  if (tls) makeCertificate(dir);
  let password = "secret";
  writeFileSync(conf, slapdConf(dir, baseDn, bindDn, password, options.overlays ?? [], tls));

  let child: ChildProcess | undefined;
  let port = 0;
  let tlsPort: number | undefined;
  for (let attempt = 0; attempt < 5 && !child; attempt++) {
    port = await freePort();
    tlsPort = tls ? await freePort() : undefined;
    try {
      child = await launch(conf, port, bindDn, password, tlsPort);
    } catch (err) {
      // Another process took the port between freePort() and slapd's bind: try another.
      if (!/errno=98|Address already in use/.test(String(err)) || attempt === 4) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }

  const url = `ldap://127.0.0.1:${port}`;
  if (options.sample === "openldap") loadLdif(url, bindDn, password, OPENLDAP_SAMPLE_LDIF);
  else await addBaseEntries(url, baseDn, bindDn, password);

  let running: ChildProcess | undefined = child;
  const signal = (name: NodeJS.Signals) => {
    if (!running?.pid) throw new Error("slapd is not running");
    process.kill(running.pid, name);
  };
  return {
    url,
    port,
    baseDn,
    bindDn,
    get password() {
      return password;
    },
    dir,
    ...(tls ? { ldapsUrl: `ldaps://127.0.0.1:${tlsPort}`, caCert: readFileSync(path.join(dir, "cert.pem"), "utf8") } : {}),
    async stop() {
      if (running) signal("SIGCONT");
      if (running) await stopChild(running);
      running = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
    async restart(whileDown) {
      if (running) await stopChild(running);
      running = undefined;
      try {
        await whileDown?.();
      } finally {
        running = await launch(conf, port, bindDn, password, tlsPort);
      }
    },
    pause: () => signal("SIGSTOP"),
    resume: () => signal("SIGCONT"),
    async changePassword(next) {
      if (running) await stopChild(running);
      running = undefined;
      password = next;
      writeFileSync(conf, slapdConf(dir, baseDn, bindDn, password, options.overlays ?? [], tls));
      running = await launch(conf, port, bindDn, password, tlsPort);
    },
  };
}
