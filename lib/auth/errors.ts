/**
 * The auth errors of SPEC §12. A 401 carries the `WWW-Authenticate` challenge (RFC 6750) the
 * gateway sends; a 429 the seconds for `Retry-After`. Messages name the problem, never the token.
 */
import { InferenceError } from "../errors.ts";

export const REALM = "square-inference";

/** The header value of a 401: `invalid_token` once a token was presented (RFC 6750 §3.1). */
export function challenge(description?: string): string {
  if (description === undefined) return `Bearer realm="${REALM}"`;
  return `Bearer realm="${REALM}", error="invalid_token", error_description="${description.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, "?")}"`;
}

export type AuthError = InferenceError & { wwwAuthenticate?: string; retryAfterS?: number };

/** No credentials at all. */
export function credentialsMissing(): AuthError {
  const err: AuthError = new InferenceError("unauthorized", "this route needs credentials: send Authorization: Bearer <token>");
  err.wwwAuthenticate = challenge();
  return err;
}

/** Credentials presented but not accepted; `why` is safe to show (it never quotes the token). */
export function invalidCredentials(why: string): AuthError {
  const err: AuthError = new InferenceError("unauthorized", `invalid credentials: ${why}`);
  err.wwwAuthenticate = challenge(why);
  return err;
}

export const forbidden = (message: string): AuthError => new InferenceError("forbidden", message);

export function rateLimited(message: string, retryAfterS: number): AuthError {
  const err: AuthError = new InferenceError("overloaded", message);
  err.retryAfterS = retryAfterS;
  return err;
}

/** The token issuer's keys cannot be fetched: the server's problem, not the client's. */
export function keysUnavailable(): AuthError {
  const err: AuthError = new InferenceError("unavailable", "the token issuer's signing keys (JWKS) could not be fetched; retry shortly");
  err.retryAfterS = 5;
  return err;
}
