/** Headers every gateway response carries (issue #14, network hygiene): JSON is never sniffed, framed, cached or referred. */
import type { ServerResponse } from "node:http";

export const API_CSP = "default-src 'none'; frame-ancestors 'none'";
/** The docs page renders the OpenAPI document with one inline script and style, fetched from this origin. */
export const DOCS_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'";

const HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  "Content-Security-Policy": API_CSP,
  // Results are per identity: no shared cache may keep them.
  "Cache-Control": "no-store",
});

export function setSecurityHeaders(res: ServerResponse): void {
  for (const [name, value] of Object.entries(HEADERS)) res.setHeader(name, value);
}
