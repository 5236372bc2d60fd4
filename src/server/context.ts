import type { IncomingMessage } from "node:http";
import type { Context } from "../schema/builder.ts";
import type { Services } from "../services.ts";
import type { Authenticate, Caller } from "./auth.ts";

export type AdmittedCaller = Extract<Caller, { role: string }>;

/** Who sent this HTTP request or WebSocket upgrade: its key (or `authorization`), address and Host. */
export type AuthenticateRequest = (request: IncomingMessage, authorization?: string) => Promise<Caller>;

export function requestAuthenticator(authenticate: Authenticate): AuthenticateRequest {
  return (request, authorization = request.headers.authorization) =>
    authenticate(authorization, request.socket.remoteAddress, request.headers.host);
}

/** The GraphQL context of an admitted caller: one builder for HTTP requests and WebSocket operations. */
export function callerContext(services: Services, caller: AdmittedCaller, request: IncomingMessage): Context {
  return { services, role: caller.role, apiKeyId: caller.keyId, clientAddress: request.socket.remoteAddress };
}
