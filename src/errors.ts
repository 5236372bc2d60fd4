/** Stable error codes of the public contract (extensions.code) and of the engine. */
export type ErrorCode =
  | "BAD_USER_INPUT"
  | "NOT_FOUND"
  | "CONFLICT"
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "RATE_LIMITED"
  | "INTERNAL_SERVER_ERROR"
  | (string & {});

/** An expected failure: its message and code reach the client unmasked. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "AppError";
  }
}

export const notFound = (what: string, id: string) => new AppError("NOT_FOUND", `${what} ${id} was not found`, { id });
export const badInput = (message: string, path?: string) => new AppError("BAD_USER_INPUT", message, path ? { path } : {});
export const conflict = (message: string, details: Record<string, unknown> = {}) => new AppError("CONFLICT", message, details);

/** One located problem of an input; `path` as the client wrote it, e.g. "config.pageSize". */
export interface Problem {
  path: string;
  message: string;
}

/**
 * Every problem of one input in one error (details.problems, each with its path), so a client
 * fixes them in one go instead of one per try; details.path stays the first one's.
 */
export function invalidInput(what: string, problems: Problem[]): AppError {
  const list = problems.map((p) => `${p.path}: ${p.message}`).join("; ");
  const message = problems.length === 1 ? `${what} at ${list}` : `${what}, ${problems.length} problems: ${list}`;
  return new AppError("BAD_USER_INPUT", message, { path: problems[0]?.path ?? "", problems });
}

/**
 * A schema validator's issues (zod's shape) as located problems below `prefix`; list positions as
 * `.0` (the API's config paths) or, with `brackets`, as `[0]` (apply documents).
 */
export function issueProblems(
  issues: readonly { path: readonly PropertyKey[]; message: string; code?: string; input?: unknown }[],
  prefix: string,
  { brackets = false } = {},
): Problem[] {
  return issues.map((issue) => {
    const path = issue.path.reduce<string>(
      (at, key) => (typeof key === "number" && brackets ? `${at}[${key}]` : at ? `${at}.${String(key)}` : String(key)),
      prefix,
    );
    // zod says "expected string, received undefined" for a key left out.
    const missing = issue.code === "invalid_type" && issue.input === undefined;
    return { path, message: missing ? "is required" : issue.message };
  });
}
