#!/usr/bin/env node
// `npm test`: everything the suite needs, then every check.
//  1. system packages the integration tests run for real (OpenLDAP's slapd), installed with
//     apt-get when we are root, else we stop and name the one command to run;
//  2. typecheck, lint, then vitest (which starts its own embedded PostgreSQL).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const systemPackages = [{ binary: "/usr/sbin/slapd", packages: ["slapd", "ldap-utils"] }];

function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { stdio: "inherit", env: { ...process.env, ...env } });
  if (r.status !== 0) {
    console.error(`\nnpm test: "${[cmd, ...args].join(" ")}" failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

const missing = systemPackages.filter((p) => !existsSync(p.binary)).flatMap((p) => p.packages);
if (missing.length) {
  const install = `apt-get install -y ${missing.join(" ")}`;
  if (process.getuid?.() !== 0) {
    console.error(`npm test needs ${missing.join(", ")}: run  sudo ${install}`);
    process.exit(1);
  }
  console.log(`installing ${missing.join(", ")} ...`);
  run("apt-get", ["update", "-qq"]);
  run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { DEBIAN_FRONTEND: "noninteractive" });
}

run("npx", ["tsc", "-p", "."]);
run("npx", ["biome", "check", "."]);
run("npx", ["vitest", "run", ...process.argv.slice(2)]);
