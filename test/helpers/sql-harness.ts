import pg from "pg";
import pino from "pino";
import type { Connector, ImportPage } from "../../src/connectors/connector.ts";
import { createConnector } from "../../src/connectors/index.ts";
import { createTestDatabaseUrl } from "./database.ts";
import { MemoryImportContext } from "./import-context.ts";

/** A SQL connector's target: a fresh database on the test run's PostgreSQL, and helpers. */
export class SqlHarness {
  url = "";
  admin!: pg.Client;
  private readonly open: Connector[] = [];
  readonly noContext = new MemoryImportContext();

  async start() {
    this.url = await createTestDatabaseUrl();
    this.admin = new pg.Client({ connectionString: this.url });
    await this.admin.connect();
  }

  async stop() {
    for (const c of this.open) await c.close().catch(() => {});
    await this.admin.end();
  }

  async sql(extra: Record<string, unknown>): Promise<Connector> {
    const c = await createConnector(
      "SQL",
      { connectionString: this.url, anchor: "id", ...extra },
      { logger: pino({ level: "silent" }) },
    );
    this.open.push(c);
    return c;
  }

  /** A fresh `people` table (named `table`) with n rows, one second of updated_at apart. */
  async peopleTable(table: string, n: number): Promise<void> {
    await this.admin.query(`DROP TABLE IF EXISTS ${table}`);
    await this.admin.query(`CREATE TABLE ${table} (
    id text PRIMARY KEY, name text NOT NULL, mail varchar(20), age int, active boolean, groups text[],
    photo bytea, external_id uuid, updated_at timestamptz NOT NULL DEFAULT '2030-01-01')`);
    await this.admin.query(
      `INSERT INTO ${table} (id, name, mail, age, active, groups, photo, external_id, updated_at)
     SELECT lpad(i::text, 3, '0'), 'Person ' || i, CASE WHEN i % 5 <> 0 THEN 'p' || i || '@x' END, 20 + i, i % 2 = 0,
            ARRAY['staff', 'g' || i % 3], CASE WHEN i = 1 THEN '\\x0102ff'::bytea END,
            CASE WHEN i = 1 THEN 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid END,
            '2024-01-01 00:00:00.000001+00'::timestamptz + i * interval '1 second'
       FROM generate_series(1, $1) i`,
      [n],
    );
  }
}

export const anchorsOf = (pages: ImportPage[]) => pages.flatMap((p) => p.objects.map((o) => o.anchor));
