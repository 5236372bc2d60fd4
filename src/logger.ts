import pino from "pino";
import type { Config } from "./config.ts";

export type Logger = pino.Logger;

/** Structured JSON logs; child loggers carry runId / component. */
export function createLogger(config: Pick<Config, "logLevel">): Logger {
  return pino({ level: config.logLevel, base: { service: "metasync" } });
}
