/**
 * Where a connector sends its secrets, spelled canonically (lower-case host, default port made
 * explicit): a stored secret may only go where it was given for. null when it cannot be told.
 */
export function urlEndpoint(value: unknown, defaultPorts: Record<string, number>, withPath = false): string | null {
  if (typeof value !== "string") return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  const port = url.port || String(defaultPorts[url.protocol] ?? "");
  // pg reads ?host= (and hostaddr/port) over the URL's own host.
  const override = ["host", "hostaddr", "port"].map((k) => url.searchParams.get(k) ?? "").join(",");
  const path = withPath ? url.pathname.replace(/\/+$/, "") : "";
  return `${url.protocol}//${url.hostname.toLowerCase()}:${port}${path}${override === ",," ? "" : `?${override}`}`;
}

/**
 * A URL whose port (if given) a socket can use: 1-65535. Checked when the config is saved, so a
 * bad port is the admin's BAD_USER_INPUT and not a RangeError from deep in a client library.
 */
export function hasUsablePort(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  // No port: the scheme's default. (The URL parser already refuses ports above 65535.)
  if (url.port === "") return true;
  const port = Number(url.port);
  return port >= 1 && port <= 65535;
}

export const PORT_MESSAGE = "must be a URL whose port is between 1 and 65535";
