/**
 * The one object the gateway asks "who sent this?": built once from the settings for the chosen
 * `--auth` mode. `none` answers ANONYMOUS for every request.
 */
import type { SecuritySettings } from "../config/security-settings.ts";
import { ANONYMOUS, Identity } from "./identity.ts";
import { bearerToken } from "./bearer.ts";
import { ApiKeyVerifier } from "./api-keys.ts";
import { JwtVerifier } from "./jwt-verifier.ts";
import { keySourceOf, KeySource } from "./key-sources.ts";

export interface Authenticator {
  mode: SecuritySettings["auth"];
  /** For the start-up log: the mode and where its keys come from. */
  describe: string;
  /** The identity behind an Authorization header; throws a 401 (or 503 when the key set is unreachable). */
  authenticate(authorization: string | string[] | undefined): Promise<Identity>;
  /** Fetches remote keys once so that a wrong JWKS URL is reported at start; never throws. */
  warmUp(warn: (message: string) => void): Promise<void>;
}

export interface AuthenticatorOptions {
  /** JWKS refetch cooldown for unknown kids (tests lower jose's 30 s). */
  jwksCooldownMs?: number;
  warn?: (message: string) => void;
}

export function createAuthenticator(s: SecuritySettings, options: AuthenticatorOptions = {}): Authenticator {
  if (s.auth === "apikey") {
    const keys = s.apiKeysJson ? ApiKeyVerifier.fromJson(s.apiKeysJson) : ApiKeyVerifier.fromFile(s.apiKeysFile as string);
    return {
      mode: "apikey",
      describe: `apikey (${keys.size} key${keys.size === 1 ? "" : "s"} from ${s.apiKeysJson ? "SQUARE_API_KEYS" : s.apiKeysFile})`,
      authenticate: async (header) => keys.verify(bearerToken(header)),
      warmUp: async () => {},
    };
  }
  if (s.auth === "jwt") {
    const source: KeySource = keySourceOf(s, options.jwksCooldownMs);
    const verifier = new JwtVerifier(source, { issuer: s.jwtIssuer, audience: s.jwtAudience, rolesClaim: s.jwtRolesClaim, clockSkewS: s.jwtClockSkewS, warn: options.warn });
    return {
      mode: "jwt",
      describe: `jwt (${source.describe}, ${source.algorithms.join("/")}; issuer ${s.jwtIssuer ?? "not checked"}; audience ${s.jwtAudience?.join(",") || "not checked"}; roles from ${s.jwtRolesClaim})`,
      authenticate: (header) => verifier.verify(bearerToken(header)),
      warmUp: async (warn) => {
        await source.warmUp?.().catch((err: Error) => warn(`jwt: the JWKS could not be fetched at start (${err.name}: ${err.message}); requests needing it get 503 until it can`));
      },
    };
  }
  return { mode: "none", describe: "none", authenticate: async () => ANONYMOUS, warmUp: async () => {} };
}
