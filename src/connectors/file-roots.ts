import { constants } from "node:fs";
import { type FileHandle, open, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { ConnectorError } from "./connector.ts";

/** METASYNC_FILE_ROOTS as absolute folders; DATA_DIR/files when unset. */
export function fileRoots(value: string | undefined, dataDir: string): string[] {
  const roots = (value ?? "")
    .split(":")
    .filter((r) => r !== "")
    .map((r) => path.resolve(r));
  return roots.length > 0 ? roots : [path.resolve(dataDir, "files")];
}

/**
 * File connectors read and write as the server's user (often root): only files under the
 * configured roots (METASYNC_FILE_ROOTS). Paths are judged by where they really lead (symlinks
 * and ".." resolved), and only regular files are accepted: a FIFO or device would block the
 * thread pool reading it.
 */
export class FileRoots {
  constructor(readonly roots: readonly string[]) {}

  /** The roots every process reads from the environment (the server passes its config's). */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): FileRoots {
    return new FileRoots(fileRoots(env.METASYNC_FILE_ROOTS || undefined, env.DATA_DIR || ".data"));
  }

  /**
   * The real path of `file` when it lies under a root; for a file not yet there, its real folder
   * plus its name. Refused (BAD_USER_INPUT, naming the roots) when outside, or not a regular file.
   */
  async resolve(file: string): Promise<string> {
    // Not path.resolve: it would drop "x/.." textually, where the kernel follows x if a symlink.
    const real = await realPathOf(path.isAbsolute(file) ? file : `${process.cwd()}${path.sep}${file}`);
    if (!(await this.contains(real))) throw this.outside(file);
    const stats = await stat(real).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return null;
      throw e;
    });
    if (stats && !stats.isFile()) throw notRegular(file);
    return real;
  }

  private async contains(real: string): Promise<boolean> {
    for (const root of this.roots) {
      const realRoot = await realpath(root).catch(() => path.resolve(root));
      const relative = path.relative(realRoot, real);
      if (relative !== "" && !relative.startsWith(`..${path.sep}`) && relative !== ".." && !path.isAbsolute(relative))
        return true;
    }
    return false;
  }

  private outside(file: string): ConnectorError {
    const allowed = this.roots.length > 0 ? this.roots.join(", ") : "none";
    return new ConnectorError(
      "BAD_USER_INPUT",
      `${file} is outside the folders file connectors may use (METASYNC_FILE_ROOTS: ${allowed})`,
      false,
    );
  }
}

/**
 * Opens a file for reading without following a symlink put in its place after it was resolved
 * and without blocking on a FIFO (open() of a FIFO waits for a writer, tying up a thread of the
 * pool every file operation shares), then checks that what was opened is a regular file.
 */
export async function openRegularFile(file: string): Promise<FileHandle> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    if (!(await handle.stat()).isFile()) throw notRegular(file);
    return handle;
  } catch (e) {
    await handle.close().catch(() => {});
    throw e;
  }
}

function notRegular(file: string): ConnectorError {
  return new ConnectorError("BAD_USER_INPUT", `${file} is not a regular file`, false);
}

/**
 * realpath, also for a path that does not exist yet: its nearest existing folder resolved, then
 * the missing names. A missing "." or ".." cannot be resolved (nor opened): refused.
 */
async function realPathOf(absolute: string): Promise<string> {
  try {
    return await realpath(absolute);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    const name = path.basename(absolute);
    const parent = path.dirname(absolute);
    if (name === "." || name === ".." || parent === absolute) throw e;
    return path.join(await realPathOf(parent), name);
  }
}
