import path from "node:path";
import { z } from "zod";
import { fileRoots } from "./connectors/file-roots.ts";
import { DEFAULT_EXPRESSION_LIMITS, type ExpressionLimits } from "./engine/expressions.ts";

/** Environment parsed once; every process (server, worker, CLI) reads the same variables. */
const EnvSchema = z.object({
  DATABASE_URL: z.string().url().optional(),
  HOST: z.string().min(1).default("127.0.0.1"),
  PORT: z.coerce
    .number({ error: "must be a number" })
    .int("must be an integer")
    .min(0, "must be between 0 and 65535")
    .max(65535, "must be between 0 and 65535")
    .default(4000),
  DATA_DIR: z.string().min(1).default(".data"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  NODE_ENV: z.string().default("development"),
  /** 32-byte key (hex or base64) for secrets at rest; default: DATA_DIR/secret.key, created once. */
  METASYNC_SECRET_KEY: z.string().optional(),
  /** JSON file { "<sha256>": "<document>" }: when set, only these GraphQL operations are served over HTTP. */
  METASYNC_PERSISTED_OPERATIONS: z.string().optional(),
  /** startRun rate limit per API key (or client address): burst, then starts per second. */
  METASYNC_START_RUN_BURST: z.coerce.number().int().min(1).default(30),
  METASYNC_START_RUN_PER_SECOND: z.coerce.number().positive().default(1),
  /** Bounds of one expression evaluation (see src/engine/expressions.ts). */
  METASYNC_EXPRESSION_TIMEOUT_MS: z.coerce.number().int().min(1).default(DEFAULT_EXPRESSION_LIMITS.timeoutMs),
  METASYNC_EXPRESSION_MAX_DEPTH: z.coerce.number().int().min(10).default(DEFAULT_EXPRESSION_LIMITS.maxDepth),
  METASYNC_EXPRESSION_MAX_SEQUENCE: z.coerce.number().int().min(1).max(10_000_000).default(DEFAULT_EXPRESSION_LIMITS.maxSequence),
  /** Folders (separated by ":") file connectors may read and write; default DATA_DIR/files. */
  METASYNC_FILE_ROOTS: z.string().optional(),
  /** Browser origins (comma-separated) allowed besides the server's own. */
  METASYNC_ALLOWED_ORIGINS: z.string().optional(),
  /** Caps on one graphql-ws connection and on one API key's subscriptions across connections. */
  METASYNC_WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: z.coerce.number().int().min(1).optional(),
  METASYNC_WS_MAX_SUBSCRIPTIONS_PER_KEY: z.coerce.number().int().min(1).optional(),
  /** A WebSocket whose unsent output exceeds this many bytes is closed (a slow consumer). */
  METASYNC_WS_MAX_BUFFERED_BYTES: z.coerce.number().int().min(1).optional(),
  /** Longest list argument (e.g. nodes(ids)) and the largest query cost served. */
  METASYNC_MAX_LIST_ARGUMENT: z.coerce.number().int().min(1).optional(),
  METASYNC_MAX_QUERY_COST: z.coerce.number().int().min(1).optional(),
  /** Failed authentications per client address before it is answered 429 (a burst, refilled per minute). */
  METASYNC_AUTH_FAILURES_PER_MINUTE: z.coerce.number().int().min(1).optional(),
  /** Scale-out: objects per partition of a large FULL_SYNC (0: never partition), runs per worker, connections per process. */
  METASYNC_PARTITION_SIZE: z.coerce.number().int().min(0).optional(),
  METASYNC_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).optional(),
  METASYNC_DB_POOL_SIZE: z.coerce.number().int().min(2).max(500).optional(),
});

export interface Config {
  databaseUrl: string | undefined;
  host: string;
  port: number;
  dataDir: string;
  logLevel: z.infer<typeof EnvSchema>["LOG_LEVEL"];
  production: boolean;
  secretKey: string | undefined;
  persistedOperationsFile?: string;
  /** startRun token bucket per caller; absent = the defaults (30, then 1/s). */
  startRunRateLimit?: { burst: number; perSecond: number };
  /** Time, depth and sequence bounds of every expression evaluation; absent = the engine's defaults. */
  expressionLimits?: ExpressionLimits;
  /** Folders file connectors (CSV) may read and write, absolute. */
  fileRoots: string[];
  /** Browser origins allowed besides the server's own (METASYNC_ALLOWED_ORIGINS). */
  allowedOrigins?: string[];
  /** Server limits; an absent field takes its default (src/server/limits.ts). */
  limits?: Partial<ServerLimits>;
  /** Run machinery settings from the environment; absent: the defaults of src/jobs/options.ts. */
  runTuning?: { partitionSize?: number; concurrency?: number };
  /** PostgreSQL connections this process keeps at most (default 10). */
  poolSize?: number;
}

export interface ServerLimits {
  subscriptionsPerConnection: number;
  subscriptionsPerKey: number;
  wsMaxBufferedBytes: number;
  maxListArgument: number;
  maxQueryCost: number;
  authFailuresPerMinute: number;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    detail: string,
  ) {
    super(`invalid environment variable ${variable}: ${detail}`);
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ""));
  const parsed = EnvSchema.safeParse(clean);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(String(issue?.path[0] ?? "?"), issue?.message ?? "invalid");
  }
  const e = parsed.data;
  return {
    databaseUrl: e.DATABASE_URL,
    host: e.HOST,
    port: e.PORT,
    dataDir: path.resolve(e.DATA_DIR),
    logLevel: e.LOG_LEVEL,
    production: e.NODE_ENV === "production",
    secretKey: e.METASYNC_SECRET_KEY,
    persistedOperationsFile: e.METASYNC_PERSISTED_OPERATIONS,
    startRunRateLimit: { burst: e.METASYNC_START_RUN_BURST, perSecond: e.METASYNC_START_RUN_PER_SECOND },
    expressionLimits: {
      timeoutMs: e.METASYNC_EXPRESSION_TIMEOUT_MS,
      maxDepth: e.METASYNC_EXPRESSION_MAX_DEPTH,
      maxSequence: e.METASYNC_EXPRESSION_MAX_SEQUENCE,
    },
    fileRoots: fileRoots(e.METASYNC_FILE_ROOTS, e.DATA_DIR),
    allowedOrigins: parseOrigins(e.METASYNC_ALLOWED_ORIGINS),
    limits: {
      subscriptionsPerConnection: e.METASYNC_WS_MAX_SUBSCRIPTIONS_PER_CONNECTION,
      subscriptionsPerKey: e.METASYNC_WS_MAX_SUBSCRIPTIONS_PER_KEY,
      wsMaxBufferedBytes: e.METASYNC_WS_MAX_BUFFERED_BYTES,
      maxListArgument: e.METASYNC_MAX_LIST_ARGUMENT,
      maxQueryCost: e.METASYNC_MAX_QUERY_COST,
      authFailuresPerMinute: e.METASYNC_AUTH_FAILURES_PER_MINUTE,
    },
    runTuning: { partitionSize: e.METASYNC_PARTITION_SIZE, concurrency: e.METASYNC_WORKER_CONCURRENCY },
    poolSize: e.METASYNC_DB_POOL_SIZE,
  };
}

/** "https://a.example, http://localhost:5173" -> normalised origins; anything else names the bad entry. */
function parseOrigins(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      let url: URL;
      try {
        url = new URL(entry);
      } catch {
        throw new ConfigError("METASYNC_ALLOWED_ORIGINS", `${JSON.stringify(entry)} is not an origin like https://host:port`);
      }
      if (
        (url.protocol !== "http:" && url.protocol !== "https:") ||
        url.pathname !== "/" ||
        url.search ||
        url.hash ||
        url.username
      )
        throw new ConfigError("METASYNC_ALLOWED_ORIGINS", `${JSON.stringify(entry)} is not an origin like https://host:port`);
      return url.origin;
    });
}
