// The product as a user runs it: `metasync serve --no-worker` (API, with the embedded PostgreSQL
// it starts in DATA_DIR) and separate `metasync worker` processes on the same DATA_DIR, each a
// real child process started through bin/metasync.mjs. Their memory is read from /proc.
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../bin/metasync.mjs", import.meta.url));
/** The heap limit bin/metasync.mjs's shebang and `npm start` give the product. */
const NODE_ARGS = ["--max-old-space-size=1536"];
/** Extra node options for the product's processes, e.g. `BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"` to profile them. */
const EXTRA_NODE_ARGS = process.env.BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? [];

export interface ProductProcess {
  name: string;
  child: ChildProcess;
  output(): string;
  /** Resolves with the first output line matching `pattern`; rejects if the process exits first. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string>;
  stop(): Promise<void>;
}

/**
 * The environment of a product process on `dataDir` (its own embedded PostgreSQL, a free port on
 * loopback, files under `files`), with a benchmark's thousand subscribers from one address allowed.
 */
export function productEnv(dataDir: string, files: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATABASE_URL: undefined,
    DATA_DIR: dataDir,
    HOST: "127.0.0.1",
    PORT: "0",
    LOG_LEVEL: "info",
    METASYNC_FILE_ROOTS: files,
    METASYNC_WS_MAX_SUBSCRIPTIONS_PER_KEY: "100000",
    ...extra,
  };
}

export function startProduct(name: string, args: string[], env: NodeJS.ProcessEnv): ProductProcess {
  const child = spawn(process.execPath, [...NODE_ARGS, ...EXTRA_NODE_ARGS, BIN, ...args], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    // Only the tail is kept: a long run logs a line per batch.
    out = (out + d.toString()).slice(-200_000);
    for (const l of listeners) l();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    name,
    child,
    output: () => out,
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = out.split("\n").find((l) => pattern.test(l));
          if (line) {
            done();
            resolve(line);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${name}: no ${pattern} within ${timeoutMs} ms; output:\n${out.slice(-4000)}`));
        }, timeoutMs);
        const onExit = () => {
          done();
          reject(
            new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before ${pattern}; output:\n${out.slice(-4000)}`),
          );
        };
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off("exit", onExit);
        };
        listeners.add(check);
        child.once("exit", onExit);
        check();
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // SIGTERM is the product's clean shutdown (a worker finishes its batch); SIGKILL after 30 s.
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      child.kill("SIGTERM");
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * A `metasync worker` process on the database of an in-process benchmark (whose API runs in the
 * benchmark's own process), started: as `metasync serve` would start it beside the API.
 */
export async function startWorkerOn(
  databaseUrl: string,
  secretKey: string,
  dataDir: string,
  extra: NodeJS.ProcessEnv = {},
): Promise<ProductProcess> {
  const worker = startProduct("worker", ["worker"], {
    ...process.env,
    DATABASE_URL: databaseUrl,
    METASYNC_SECRET_KEY: secretKey,
    DATA_DIR: dataDir,
    METASYNC_FILE_ROOTS: tmpdir(),
    LOG_LEVEL: "info",
    ...extra,
  });
  await worker.waitFor(/worker started/, 60_000);
  return worker;
}

/** Resident set size of a process in bytes, from /proc (0 once it has exited). */
export function rssBytes(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export interface MemoryPeaks {
  /** Largest sum of API + worker RSS seen at one sample. */
  totalMb: number;
  apiMb: number;
  /** Largest single worker. */
  workerMb: number;
}

/**
 * Samples the API's and the workers' RSS every `everyMs` while a phase runs: VmHWM would give
 * the process's lifetime peak, not the phase's.
 */
export function memorySampler(api: ProductProcess, workers: ProductProcess[], everyMs = 100) {
  let peaks: MemoryPeaks = { totalMb: 0, apiMb: 0, workerMb: 0 };
  const sample = () => {
    const a = rssBytes(api.child.pid) / 2 ** 20;
    const w = workers.map((p) => rssBytes(p.child.pid) / 2 ** 20);
    peaks = {
      totalMb: Math.max(peaks.totalMb, a + w.reduce((s, x) => s + x, 0)),
      apiMb: Math.max(peaks.apiMb, a),
      workerMb: Math.max(peaks.workerMb, ...w),
    };
  };
  const timer = setInterval(sample, everyMs);
  timer.unref();
  return {
    /** Starts a new phase's peaks. */
    reset() {
      peaks = { totalMb: 0, apiMb: 0, workerMb: 0 };
      sample();
    },
    read(): MemoryPeaks {
      sample();
      return { totalMb: Math.round(peaks.totalMb), apiMb: Math.round(peaks.apiMb), workerMb: Math.round(peaks.workerMb) };
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * CPU seconds (user + system) a process and all its descendants have used so far, live ones from
 * /proc/<pid>/stat and exited ones through the reaped-children counters: a benchmark's cost per
 * object that does not depend on what else the machine is doing (a PostgreSQL postmaster's tree
 * holds every backend, a slapd its threads).
 */
export function cpuSecondsTree(pid: number | undefined): number {
  if (!pid) return 0;
  const ticks = 100; // USER_HZ on Linux
  const stats = new Map<number, { ppid: number; own: number; reaped: number }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Fields after the command (which may hold spaces) start at ")": state ppid ... utime(14) stime cutime cstime.
      const text = readFileSync(`/proc/${entry}/stat`, "utf8");
      const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
      stats.set(Number(entry), { ppid: Number(f[1]), own: Number(f[11]) + Number(f[12]), reaped: Number(f[13]) + Number(f[14]) });
    } catch {
      // exited while listing
    }
  }
  const sum = (p: number): number => {
    const s = stats.get(p);
    if (!s) return 0;
    let total = s.own + s.reaped;
    for (const [child, c] of stats) if (c.ppid === p) total += sum(child);
    return total;
  };
  return sum(pid) / ticks;
}

/** The pid in the first line of a pid file (a postmaster.pid, slapd.pid), or undefined. */
export function pidFromFile(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, "utf8").split("\n")[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
