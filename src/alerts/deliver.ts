import type pg from "pg";
import { inTransaction } from "../db/transaction.ts";
import type { SecretBox } from "../secrets.ts";
import type { AlertOptions } from "./options.ts";
import { SIGNATURE_HEADER, signatureHeader } from "./signature.ts";

/** How one attempt ended: `final` when the delivery is DELIVERED or FAILED for good. */
export interface AttemptOutcome {
  delivered: boolean;
  final: boolean;
  attempt: number;
  statusCode: number | null;
  error: string | null;
}

interface DeliveryRow {
  id: string;
  status: string;
  attempt_count: number;
  event: string;
  payload: unknown;
  endpoint_id: string | null;
  url: string | null;
  secret: string | null;
  enabled: boolean | null;
}

/**
 * One HTTP attempt of one delivery, recorded in the delivery log whatever happens. `lastTry`
 * (the job has no retry left) turns a failure into FAILED; otherwise the delivery stays PENDING
 * and the caller lets pg-boss retry it after its backoff. The body is the alert's document as
 * stored; the signature covers this attempt's timestamp and that exact body.
 */
export async function attemptDelivery(
  deps: { pool: pg.Pool; secrets: SecretBox; options: Pick<AlertOptions, "timeoutMs"> },
  deliveryId: string,
  lastTry: boolean,
): Promise<AttemptOutcome | null> {
  const { rows } = await deps.pool.query<DeliveryRow>(
    `SELECT d.id, d.status::text AS status, d.attempt_count, a.event::text AS event, a.payload, d.endpoint_id,
            e.url, e.secret, e.enabled
       FROM alert_delivery d JOIN alert a ON a.id = d.alert_id LEFT JOIN alert_endpoint e ON e.id = d.endpoint_id
      WHERE d.id = $1`,
    [deliveryId],
  );
  const row = rows[0];
  if (row?.status !== "PENDING") return null; // settled already (a duplicate or expired job)
  const attempt = row.attempt_count + 1;
  const startedAt = new Date();
  let statusCode: number | null = null;
  let error: string | null = null;
  if (!row.url || !row.secret) error = "the endpoint was deleted";
  else if (!row.enabled) error = "the endpoint is disabled";
  else {
    const secret = openSecret(deps.secrets, row.secret);
    if (secret === null) error = "the endpoint's secret cannot be decrypted here (a different METASYNC_SECRET_KEY?)";
    else ({ statusCode, error } = await post(deps, row.url, secret, row, deliveryId));
  }
  const delivered = error === null;
  // Deleted or disabled endpoints are not retried: nothing would change.
  const final = delivered || lastTry || !row.url || !row.enabled;
  await inTransaction(deps.pool, async (client) => {
    await client.query(
      `INSERT INTO alert_delivery_attempt (delivery_id, attempt, status_code, error, started_at) VALUES ($1, $2, $3, $4, to_timestamp($5::float8 / 1000))
       ON CONFLICT (delivery_id, attempt) DO NOTHING`,
      [deliveryId, attempt, statusCode, error, startedAt.getTime()],
    );
    await client.query(
      `UPDATE alert_delivery SET attempt_count = $2, last_status_code = $3, last_error = $4, updated_at = now(),
         status = CASE WHEN $5::boolean THEN 'DELIVERED' WHEN $6::boolean THEN 'FAILED' ELSE 'PENDING' END::alert_delivery_status,
         finished_at = CASE WHEN $6::boolean THEN now() END
       WHERE id = $1 AND status = 'PENDING'`,
      [deliveryId, attempt, statusCode, error, delivered, final],
    );
  });
  return { delivered, final, attempt, statusCode, error };
}

function openSecret(secrets: SecretBox, sealed: string): string | null {
  try {
    const { secret } = secrets.open(sealed);
    return typeof secret === "string" ? secret : null;
  } catch {
    return null;
  }
}

/** POST the alert; any answer but 2xx, a redirect included, is a failure (redirects are not followed). */
async function post(
  deps: { options: Pick<AlertOptions, "timeoutMs"> },
  url: string,
  secret: string,
  row: DeliveryRow,
  deliveryId: string,
): Promise<{ statusCode: number | null; error: string | null }> {
  const body = JSON.stringify(row.payload);
  const timestamp = Math.floor(Date.now() / 1000);
  try {
    const res = await fetch(url, {
      method: "POST",
      redirect: "manual",
      signal: AbortSignal.timeout(deps.options.timeoutMs),
      headers: {
        "content-type": "application/json",
        "user-agent": "Metasync-Alerts/1",
        [SIGNATURE_HEADER]: signatureHeader(secret, body, timestamp),
        "X-Metasync-Event": row.event,
        "X-Metasync-Delivery": deliveryId,
      },
      body,
    });
    // The answer's body is not needed: drop it rather than buffer whatever the endpoint sends.
    await res.body?.cancel().catch(() => {});
    return { statusCode: res.status, error: res.ok ? null : `HTTP ${res.status}` };
  } catch (e) {
    const name = (e as { name?: string }).name;
    if (name === "TimeoutError" || name === "AbortError")
      return { statusCode: null, error: `no answer within ${deps.options.timeoutMs} ms` };
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return { statusCode: null, error: cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e)) };
  }
}
