import { ConnectorError } from "../connector.ts";

/** A file-system or stream failure as a typed connector error the engine can act on. */
export function fileError(error: unknown, path: string): ConnectorError {
  if (error instanceof ConnectorError) return error;
  const code = (error as { code?: string }).code;
  const reason = error instanceof Error ? error.message : String(error);
  switch (code) {
    case "ENOENT":
      return new ConnectorError("NOT_FOUND", `${path} does not exist`, false, { cause: error });
    case "EACCES":
    case "EPERM":
      return new ConnectorError("PERMISSION_DENIED", `${path}: permission denied`, false, { cause: error });
    case "EISDIR":
      return new ConnectorError("INVALID_INPUT", `${path} is a directory`, false, { cause: error });
    // A full disk, too many open files or a flaky network mount can clear up on their own.
    case "ENOSPC":
    case "EMFILE":
    case "ENFILE":
    case "EIO":
    case "EAGAIN":
    case "EBUSY":
      return new ConnectorError("INTERNAL", `${path}: ${reason}`, true, { cause: error });
    default:
      return new ConnectorError("INTERNAL", `${path}: ${reason}`, false, { cause: error });
  }
}
