/**
 * CORS (off unless `--cors-origins` lists origins) and `OPTIONS`. Browsers send a preflight
 * `OPTIONS` without credentials, so it is answered before authentication: 204 with `Allow`, plus
 * the CORS grant when the origin is allowed. Tokens travel in the Authorization header, not in
 * cookies, so credentials mode is never granted.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

export const ALLOWED_REQUEST_HEADERS = "Authorization, Content-Type, Content-Encoding";
export const PREFLIGHT_MAX_AGE_S = 600;

/** The value for Access-Control-Allow-Origin, or undefined when this origin gets no grant. */
export function allowedOrigin(origins: readonly string[], origin: string | undefined): string | undefined {
  if (origins.length === 0 || origin === undefined) return undefined;
  if (origins.includes("*")) return "*";
  return origins.includes(origin) ? origin : undefined;
}

/** On every response: the grant for an allowed Origin (and Vary, since the answer depends on it). */
export function setCorsHeaders(origins: readonly string[], req: IncomingMessage, res: ServerResponse): void {
  if (origins.length === 0) return;
  if (!origins.includes("*")) res.setHeader("Vary", "Origin");
  const allowed = allowedOrigin(origins, req.headers.origin);
  if (allowed) {
    res.setHeader("Access-Control-Allow-Origin", allowed);
    res.setHeader("Access-Control-Expose-Headers", "Retry-After, WWW-Authenticate");
  }
}

/** Answers an OPTIONS request for a path served with `methods` (setCorsHeaders has run). */
export function answerOptions(origins: readonly string[], req: IncomingMessage, res: ServerResponse, methods: readonly string[]): void {
  const allow = [...methods, "OPTIONS"].join(", ");
  res.setHeader("Allow", allow);
  if (allowedOrigin(origins, req.headers.origin) && req.headers["access-control-request-method"] !== undefined) {
    res.setHeader("Access-Control-Allow-Methods", allow);
    res.setHeader("Access-Control-Allow-Headers", ALLOWED_REQUEST_HEADERS);
    res.setHeader("Access-Control-Max-Age", String(PREFLIGHT_MAX_AGE_S));
  }
  res.writeHead(204);
  res.end();
}
