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
