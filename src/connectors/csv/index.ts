import { stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { withTimeout } from "../../util/timeout.ts";
import type { Connector, DiscoveredSchema, ExportChange, ExportResult, ExportSession } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import type { ConnectorDeps } from "../deps.ts";
import { FileRoots } from "../file-roots.ts";
import type { CsvConfig } from "./config.ts";
import { fileError } from "./errors.ts";
import { fingerprint, importDelta, importFull } from "./import.ts";
import { readCsv } from "./reader.ts";
import { CsvExportSession, exportToCsv, newFileHeader } from "./writer.ts";

/**
 * A CSV file as a connected system: one object type, one row per object keyed by the anchor
 * column. Every value is a string (multi-valued columns: arrays of strings); an empty cell is an
 * absent attribute. Delta imports compare content hashes with the engine's stored objects.
 * Long because it is the connector object: its methods share the resolved file in one closure.
 */
export async function createCsvConnector(config: CsvConfig, deps: ConnectorDeps): Promise<Connector> {
  const logger = deps.logger.child({ connector: "csv", file: basename(config.path) });
  // Exports of one connector rewrite the same file: one at a time, or the second loses the first.
  let exporting: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
    const turn = exporting.then(work);
    exporting = turn.catch(() => {});
    return turn;
  };
  const roots = deps.fileRoots ? new FileRoots(deps.fileRoots) : FileRoots.fromEnv();
  /**
   * The config with its path resolved and checked against the roots, before every use: the
   * check when the config was saved does not cover a symlink swapped in since.
   */
  const confined = async (): Promise<CsvConfig> => {
    try {
      return { ...config, path: await roots.resolve(config.path) };
    } catch (error) {
      throw fileError(error, config.path);
    }
  };

  return {
    capabilities: { fullImport: true, deltaImport: true, export: true, schemaDiscovery: true, rename: false },

    async testConnection(timeoutMs = 10_000) {
      const at = await confined();
      if (config.columns && !(await exists(at.path))) {
        await fingerprint(dirname(at.path));
        return {
          message: `${config.path} does not exist yet: the first export creates it (${newFileHeader(at, []).join(", ")})`,
        };
      }
      const header = await timeLimit(readHeader(at), timeoutMs, `reading ${config.path}`);
      return { message: `${config.path}: ${header.length} columns, anchor "${config.anchor}"` };
    },

    async discoverSchema(): Promise<DiscoveredSchema> {
      const at = await confined();
      const header = config.columns && !(await exists(at.path)) ? newFileHeader(at, []) : await readHeader(at);
      return {
        objectTypes: [
          {
            name: config.objectType,
            anchorAttribute: config.anchor,
            attributes: header.map((name) => ({
              name,
              type: "STRING" as const,
              multiValued: config.multiValued.includes(name),
              required: name === config.anchor,
            })),
          },
        ],
      };
    },

    async *importFull(checkpoint) {
      yield* importFull(await confined(), checkpoint);
    },
    async *importDelta(watermark, checkpoint, context) {
      yield* importDelta(await confined(), watermark, checkpoint, context);
    },

    export(changes: ExportChange[]): Promise<ExportResult[]> {
      return inTurn(() => exportToCsv(confined, changes)).then((results) => {
        logger.debug({ changes: changes.length }, "csv export applied");
        return results;
      });
    },

    openExportSession(): ExportSession {
      const session = new CsvExportSession(confined);
      return {
        export: (changes) => inTurn(() => session.export(changes)),
        get commitDue() {
          return session.commitDue;
        },
        commit: () =>
          inTurn(async () => {
            await session.commit();
            logger.debug("csv export session written");
          }),
        abort: async () => session.abort(),
      };
    },

    async close() {
      await exporting;
    },
  };
}

/** The header row only: stops reading right after it. */
async function readHeader(config: CsvConfig): Promise<string[]> {
  await fingerprint(config.path);
  let header: string[] | null = null;
  for await (const _ of readCsv(config, { onHeader: (columns) => (header = columns) })) break;
  if (!header) throw new ConnectorError("INVALID_INPUT", `${config.path} has no header row`, false);
  return header;
}

function timeLimit<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return withTimeout(work, timeoutMs, () => {
    throw new ConnectorError("TIMEOUT", `${what} took over ${timeoutMs} ms`);
  });
}

/** Whether the (resolved) file is there yet; other failures are the file's own errors. */
async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw fileError(error, path);
  }
}
