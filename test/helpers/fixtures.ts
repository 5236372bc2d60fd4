import type { Services } from "../../src/services.ts";

/** A CSV connected system (no connector call is made to create one). */
export async function createCsvSystem(services: Services, name: string) {
  return services.systems.create({ name, kind: "CSV", config: { path: `/tmp/${name}.csv`, anchor: "id" } });
}

/** A run row, as the runs engine would write it; enough for foreign keys and runId filters. */
export async function insertRun(services: Services, connectedSystemId: string, profile = "EXPORT"): Promise<string> {
  const { rows } = await services.db.pool.query<{ id: string }>(
    `INSERT INTO run (operation, profile, connected_system_id, connection_settings_id, scope_key, status)
     SELECT 'connector.export', $2::run_profile, $1, s.id, 'test:' || gen_random_uuid(), 'COMPLETED'
       FROM connection_settings s WHERE s.connected_system_id = $1 ORDER BY version DESC LIMIT 1
     RETURNING id`,
    [connectedSystemId, profile],
  );
  return rows[0]!.id;
}

/** `count` metaverse objects of `type` with attributes { uid: prefix + i, n: i }. */
export async function insertMvos(services: Services, count: number, prefix = "u", type = "person"): Promise<string[]> {
  const { rows } = await services.db.pool.query<{ id: string }>(
    `INSERT INTO metaverse_object (type, display_name, attributes)
     SELECT $1, 'User ' || i, jsonb_build_object('uid', $2 || i, 'n', i) FROM generate_series(1, $3) i
     RETURNING id`,
    [type, prefix, count],
  );
  return rows.map((r) => r.id);
}

/** One CSO per metaverse object in `mvoIds`, joined to it. */
export async function insertJoinedCsos(services: Services, connectedSystemId: string, mvoIds: string[]) {
  await services.db.pool.query(
    `INSERT INTO connector_space_object (connected_system_id, object_type, anchor, attributes, content_hash, join_type, metaverse_object_id)
     SELECT $1, 'person', 'a-' || m.id, jsonb_build_object('id', m.id), md5(m.id::text), 'JOINED', m.id
       FROM unnest($2::uuid[]) AS m(id)`,
    [connectedSystemId, mvoIds],
  );
}
