import pino from "pino";

export type Logger = pino.Logger;

/** Structured JSON logs; child loggers carry runId / component. */
export function createLogger(config: { logLevel: pino.LevelWithSilentOrString }): Logger {
  return pino({ level: config.logLevel, base: { service: "metasync" } });
}
