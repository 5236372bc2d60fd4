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
