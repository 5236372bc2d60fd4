import { expect } from "vitest";
import { ConnectorError } from "../../src/connectors/connector.ts";

/** The ConnectorError `work` rejects with, checked for its code (and transient flag when given). */
export async function expectError(work: Promise<unknown>, code: string, transient?: boolean): Promise<ConnectorError> {
  const error = await work.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConnectorError);
  expect({ code: (error as ConnectorError).code, message: (error as ConnectorError).message }).toMatchObject({ code });
  if (transient !== undefined) expect((error as ConnectorError).transient).toBe(transient);
  return error as ConnectorError;
}
