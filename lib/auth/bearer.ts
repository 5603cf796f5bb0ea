/** The bearer token of an `Authorization` header (RFC 6750 §2.1), or a 401 naming what is wrong with the header. */
import { credentialsMissing, invalidCredentials } from "./errors.ts";

/** Longer tokens are refused before any parsing (a Keycloak access token with many roles is ~2 KB). */
export const MAX_TOKEN_CHARS = 8192;

/** RFC 6750's b64token: the characters a bearer token may contain. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

export function bearerToken(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === "") throw credentialsMissing();
  const m = /^(\S+)\s+(.*)$/s.exec(value.trim());
  if (!m || m[1].toLowerCase() !== "bearer") throw invalidCredentials("the Authorization header must be \"Bearer <token>\"");
  const token = m[2].trim();
  if (token.length > MAX_TOKEN_CHARS) throw invalidCredentials(`the token is longer than ${MAX_TOKEN_CHARS} characters`);
  if (!B64TOKEN.test(token)) throw invalidCredentials("the token contains characters a bearer token cannot have");
  return token;
}
