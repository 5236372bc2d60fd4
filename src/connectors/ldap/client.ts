import { Client } from "ldapts";
import type { LdapConfig } from "./config.ts";
import { toConnectorError } from "./errors.ts";

export type SessionConfig = Pick<
  LdapConfig,
  "url" | "bindDn" | "bindPassword" | "startTls" | "tlsRejectUnauthorized" | "timeoutMs"
>;

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
    const tlsOptions = config.url.startsWith("ldaps:") ? { rejectUnauthorized: config.tlsRejectUnauthorized } : undefined;
    return new Client({
      url: config.url,
      // Per request: a server that accepts and never answers fails the request (and drops the
      // socket) instead of hanging the run.
      timeout: timeoutMs,
      connectTimeout: timeoutMs,
      tlsOptions,
      // Rebinding before StartTLS would send the password in clear; ready() handles that case.
      autoRebind: !config.startTls,
    });
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
        await this.client.startTLS({ rejectUnauthorized: this.config.tlsRejectUnauthorized });
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

  async close(): Promise<void> {
    await this.client.unbind().catch(() => {});
  }
}
