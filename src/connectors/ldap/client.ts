import net from "node:net";
import tls from "node:tls";
import { Client } from "ldapts";
import { withTimeout } from "../../util/timeout.ts";
import type { LdapConfig } from "./config.ts";
import { toConnectorError } from "./errors.ts";
import { installLeanAttributes } from "./lean-attributes.ts";

installLeanAttributes();

export type SessionConfig = Pick<
  LdapConfig,
  "url" | "bindDn" | "bindPassword" | "startTls" | "tlsRejectUnauthorized" | "tlsCa" | "timeoutMs"
>;

/**
 * A socket whose writes within one turn of the event loop leave together (one writev). ldapts
 * writes every request on its own; with many requests in flight, a write system call per
 * request was the export's largest CPU cost (bench/export-ldap.ts profile).
 */
function coalescing<T extends net.Socket>(socket: T): T {
  const write = socket.write;
  let corked = false;
  socket.write = function (this: T, ...args: unknown[]) {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as T["write"];
  return socket;
}

/**
 * One bound LDAP connection that binds again after the connection dropped.
 *
 * ldapts reconnects by itself on the next request but, unless told, does not bind again, and
 * never re-runs StartTLS: a request after a drop would silently run anonymously (or in clear
 * text). So every caller goes through `ready()`, which (re)connects, upgrades and binds when
 * the client is not bound, shared by all requests in flight so a drop causes one reconnect.
 */
export class LdapSession {
  private client: Client;
  private binding: Promise<void> | undefined;

  constructor(
    private readonly config: SessionConfig,
    timeoutMs = config.timeoutMs,
  ) {
    this.client = LdapSession.newClient(config, timeoutMs);
  }

  private static newClient(config: SessionConfig, timeoutMs: number): Client {
    // ldapts speaks TLS from the first byte whenever tlsOptions is set, even for ldap://.
    const tlsOptions = config.url.startsWith("ldaps:") ? LdapSession.tlsOptions(config) : undefined;
    return new Client({
      url: config.url,
      // Per request: a server that accepts and never answers fails the request (and drops the
      // socket) instead of hanging the run.
      timeout: timeoutMs,
      connectTimeout: timeoutMs,
      tlsOptions,
      // Rebinding before StartTLS would send the password in clear; ready() handles that case.
      autoRebind: !config.startTls,
      createConnection: ((...args: Parameters<typeof net.connect>) => coalescing(net.connect(...args))) as typeof net.connect,
      createSecureConnection: ((...args: Parameters<typeof tls.connect>) =>
        coalescing(tls.connect(...args))) as typeof tls.connect,
    });
  }

  private static tlsOptions(config: SessionConfig): tls.ConnectionOptions {
    return { rejectUnauthorized: config.tlsRejectUnauthorized, ...(config.tlsCa ? { ca: config.tlsCa } : {}) };
  }

  /** The bound client; throws a ConnectorError when it cannot connect or bind. */
  async ready(): Promise<Client> {
    if (this.client.isConnected && this.client.isBound) return this.client;
    this.binding ??= this.bind().finally(() => {
      this.binding = undefined;
    });
    await this.binding;
    return this.client;
  }

  private async bind(): Promise<void> {
    try {
      if (this.client.isConnected) {
        // Connected but not bound (a failed bind, or ldapts reconnected on its own): start clean.
        await this.client.unbind().catch(() => {});
      }
      if (this.config.startTls) {
        // ldapts upgrades the socket without a host name: give it one, or the certificate is
        // checked against "localhost".
        const host = new URL(this.config.url).hostname.replace(/^\[|\]$/g, "");
        await this.client.startTLS({
          ...LdapSession.tlsOptions(this.config),
          host,
          ...(net.isIP(host) ? {} : { servername: host }),
        });
      }
      await this.client.bind(this.config.bindDn, this.config.bindPassword);
    } catch (err) {
      // A client whose bind failed keeps its socket open (STACK.md): close it.
      await this.client.unbind().catch(() => {});
      throw toConnectorError(err, `bind to ${this.config.url} as ${this.config.bindDn}`);
    }
  }

  /** Runs `op` on the bound client, mapping every failure to a ConnectorError. */
  async run<T>(context: string, op: (client: Client) => Promise<T>): Promise<T> {
    const client = await this.ready();
    try {
      return await op(client);
    } catch (err) {
      throw toConnectorError(err, context);
    }
  }

  /**
   * Unbinds, waiting at most a second: after a StartTLS upgrade ldapts does not notice the
   * server going away, and an unbind on that dead socket would wait for the request timeout.
   */
  async close(): Promise<void> {
    await withTimeout(
      this.client.unbind().catch(() => {}),
      1000,
      () => undefined,
      { unref: true },
    );
  }
}
