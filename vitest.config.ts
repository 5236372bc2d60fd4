import { tmpdir } from "node:os";
import { defineConfig } from "vitest/config";

// graphql@16 ships index.mjs ("module") + index.js ("main"), no "exports". Vite would resolve
// app imports to index.mjs while externalized deps (Pothos, Yoga) load index.js: two graphql
// realms ("Cannot use GraphQLSchema from another module or realm"). Resolve like Node does.
export default defineConfig({
  resolve: { alias: [{ find: /^graphql$/, replacement: "graphql/index.js" }] },
  test: {
    globalSetup: ["test/helpers/global-setup.ts"],
    include: ["test/**/*.test.ts"],
    // Generous: with two files at a time on two cores, a test that starts servers and CLI processes
    // can take half a minute; the limit only catches a test that hangs.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Two test files at a time, also on a 2-core machine (vitest's default there is one): most
    // files wait on PostgreSQL, slapd or a child process rather than on their own CPU.
    maxWorkers: 2,
    // Tests keep their CSV files in temp dirs (systems behind fake connectors name files in /data):
    // the file roots of connectors built without services and of the CLI processes tests start
    // (services take theirs from test/helpers/services.ts).
    env: { METASYNC_FILE_ROOTS: `${tmpdir()}:/data` },
    reporters: ["default"],
  },
});
