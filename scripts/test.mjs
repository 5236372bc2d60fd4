#!/usr/bin/env node
// `npm test`: everything the suite needs, then every check.
//  1. system packages the integration tests run for real (OpenLDAP's slapd, Chromium), installed with
//     apt-get when we are root, else we stop and name the one command to run;
//  2. typecheck, lint, then vitest (which starts its own embedded PostgreSQL).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const systemPackages = [
  { binaries: ["/usr/sbin/slapd"], packages: ["slapd", "ldap-utils"] },
  // The dashboard test drives a real headless Chromium (test/helpers/browser.ts); CHROMIUM_PATH overrides.
  { binaries: [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"], packages: ["chromium"] },
];

function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { stdio: "inherit", env: { ...process.env, ...env } });
  if (r.status !== 0) {
    console.error(`\nnpm test: "${[cmd, ...args].join(" ")}" failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

const missing = systemPackages.filter((p) => !p.binaries.some((b) => b && existsSync(b))).flatMap((p) => p.packages);
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
