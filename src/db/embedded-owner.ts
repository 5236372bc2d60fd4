import { randomBytes } from "node:crypto";
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";

/**
 * Which process owns (and so stops) the cluster under a data directory. A server killed with
 * SIGKILL leaves its PostgreSQL running with no owner: the next process that finds it adopts it,
 * so one SIGTERM of that process stops everything again.
 */
export interface Ownership {
  /** Gives ownership up (only if the file still names this claim). */
  release(): void;
}

function ownerFile(dir: string): string {
  return `${dir}.owner`;
}

/** This process as `<pid> <start time> <token>`: the start time tells a reused pid apart. */
function me(token: string): string {
  return `${process.pid} ${startTime(process.pid)} ${token}`;
}

/** Claim the directory unconditionally (this process is about to start the cluster). */
export function claimOwnership(dir: string): Ownership {
  const token = randomBytes(8).toString("hex");
  const temp = `${ownerFile(dir)}.${token}`;
  writeFileSync(temp, me(token), { mode: 0o600 });
  renameSync(temp, ownerFile(dir));
  return { release: () => releaseIfMine(dir, token) };
}

/**
 * Claim a running cluster whose owner is gone; null while its owner lives or another process
 * claimed it first. Of two processes racing for one orphan, only one renames the stale file away.
 */
export function adoptIfOrphaned(dir: string): Ownership | null {
  const file = ownerFile(dir);
  const current = read(file);
  if (current !== null && ownerAlive(current)) return null;
  const token = randomBytes(8).toString("hex");
  if (current !== null) {
    try {
      renameSync(file, `${file}.${token}.stale`);
    } catch {
      return null;
    }
    rmSync(`${file}.${token}.stale`, { force: true });
  }
  try {
    writeFileSync(file, me(token), { mode: 0o600, flag: "wx" });
  } catch {
    return null;
  }
  return { release: () => releaseIfMine(dir, token) };
}

function releaseIfMine(dir: string, token: string) {
  const current = read(ownerFile(dir));
  if (current?.split(" ")[2] === token) rmSync(ownerFile(dir), { force: true });
}

function read(file: string): string | null {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return null;
  }
}

function ownerAlive(line: string): boolean {
  const [pid, started] = line.split(" ");
  const n = Number(pid);
  return Number.isInteger(n) && n > 0 && started !== undefined && isRunning(n) && String(startTime(n)) === started;
}

/** Running: present and not a zombie (an exited child nobody reaped still has a /proc entry). */
export function isRunning(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== null && stat[0] !== "Z";
}

/** The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or -1. */
function startTime(pid: number): number {
  const stat = procStat(pid);
  return stat === null ? -1 : Number(stat[19]);
}

/** /proc/<pid>/stat fields from the state (field 3) on: the command name may hold spaces. */
function procStat(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** Stop a postmaster this process did not start (fast shutdown), waiting until it is gone. */
export async function stopPostmaster(pid: number, timeoutMs = 30_000): Promise<void> {
  if (!isRunning(pid)) return;
  try {
    process.kill(pid, "SIGINT");
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (isRunning(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}
