/**
 * Settings of authentication, rate limits and network exposure (issue #14, SPEC §12): their flags,
 * environment variables, defaults and parsers. Cross-field rules (which flags a mode needs) are
 * checked once, by `checkSecuritySettings`, when the settings are resolved.
 */
import { Option, positiveNumber, commaList } from "./option.ts";

export type AuthMode = "none" | "jwt" | "apikey";
export const AUTH_MODES: readonly AuthMode[] = Object.freeze(["none", "jwt", "apikey"]);

/** Requests per second and items per minute for one identity; 0 = unlimited. */
export interface RateLimit {
  perSecond: number;
  itemsPerMinute: number;
}

/** `admin`: identities with the admin role; `user`: every other identity. */
export interface RateLimits {
  user: RateLimit;
  admin: RateLimit;
}

export interface SecuritySettings {
  /** Address the gateway binds. */
  host: string;
  auth: AuthMode;
  apiKeysFile?: string;
  /** The API-key document itself (environment only, for secret stores that inject variables). */
  apiKeysJson?: string;
  jwksUrl?: string;
  jwtPublicKey?: string;
  jwtSecret?: string;
  jwtIssuer?: string;
  jwtAudience?: string[];
  /** Dot path of the roles claim in a token. */
  jwtRolesClaim: string;
  /** Seconds of clock difference tolerated on exp and nbf. */
  jwtClockSkewS: number;
  jwksTimeoutMs: number;
  adminRole: string;
  /** Role predictions need; `*` = any authenticated identity. */
  userRole: string;
  rateLimits: RateLimits;
  /** Origins allowed by CORS; empty = CORS off; `*` = any. */
  corsOrigins: string[];
}

export const DEFAULT_RATE_LIMITS: Readonly<RateLimits> = Object.freeze({
  user: Object.freeze({ perSecond: 20, itemsPerMinute: 10_000 }),
  admin: Object.freeze({ perSecond: 0, itemsPerMinute: 0 }),
});

export const DEFAULT_SECURITY: Readonly<SecuritySettings> = Object.freeze({
  host: "127.0.0.1",
  auth: "none",
  jwtRolesClaim: "realm_access.roles",
  jwtClockSkewS: 30,
  jwksTimeoutMs: 5000,
  adminRole: "admin",
  userRole: "user",
  rateLimits: DEFAULT_RATE_LIMITS,
  corsOrigins: [],
});

export const SECURITY_OPTIONS: readonly Option<keyof SecuritySettings>[] = Object.freeze([
  { flag: "--host", env: "SQUARE_HOST", key: "host", help: "address the gateway binds (default 127.0.0.1; the container image uses 0.0.0.0)", parse: parseHost },
  { flag: "--auth", env: "SQUARE_AUTH", key: "auth", help: "none, jwt or apikey (default none: every client may use every route)", parse: parseAuthMode },
  { flag: "--api-keys", env: "SQUARE_API_KEYS_FILE", key: "apiKeysFile", help: 'apikey mode: JSON file {"keys": [{"key", "identity", "roles"}]}' },
  { env: "SQUARE_API_KEYS", key: "apiKeysJson", help: "apikey mode: the same JSON document as --api-keys, inline" },
  { flag: "--jwks-url", env: "SQUARE_JWKS_URL", key: "jwksUrl", help: "jwt mode: JWKS URL of the token issuer (RS256/ES256), e.g. Keycloak's .../protocol/openid-connect/certs", parse: parseHttpUrl },
  { flag: "--jwt-public-key", env: "SQUARE_JWT_PUBLIC_KEY", key: "jwtPublicKey", help: "jwt mode: PEM public key or certificate, or a JWKS JSON file (RS256/ES256)" },
  { flag: "--jwt-secret", env: "SQUARE_JWT_SECRET", key: "jwtSecret", help: "jwt mode: HS256 shared secret, ≥ 32 characters (prefer the environment variable)" },
  { flag: "--jwt-issuer", env: "SQUARE_JWT_ISSUER", key: "jwtIssuer", help: "jwt mode: required iss claim, e.g. https://sso.example.org/realms/square" },
  { flag: "--jwt-audience", env: "SQUARE_JWT_AUDIENCE", key: "jwtAudience", help: "jwt mode: accepted aud values (comma list)", parse: commaList },
  { flag: "--jwt-roles-claim", env: "SQUARE_JWT_ROLES_CLAIM", key: "jwtRolesClaim", help: "jwt mode: dot path of the roles claim (default realm_access.roles, Keycloak's)", parse: parseClaimPath },
  { flag: "--jwt-clock-skew", env: "SQUARE_JWT_CLOCK_SKEW", key: "jwtClockSkewS", help: "jwt mode: seconds of clock skew allowed on exp and nbf (default 30)", parse: parseSkew },
  { flag: "--jwks-timeout", env: "SQUARE_JWKS_TIMEOUT", key: "jwksTimeoutMs", help: "jwt mode: seconds to wait for the JWKS URL (default 5)", parse: (s) => Math.round(positiveNumber(s, "--jwks-timeout") * 1000) },
  { flag: "--admin-role", env: "SQUARE_ADMIN_ROLE", key: "adminRole", help: "role that may update models and read /metrics (default admin)", parse: (s) => nonEmpty(s, "--admin-role") },
  { flag: "--user-role", env: "SQUARE_USER_ROLE", key: "userRole", help: "role that may predict and read results (default user; * = any authenticated identity)", parse: (s) => nonEmpty(s, "--user-role") },
  { flag: "--rate-limits", env: "SQUARE_RATE_LIMITS", key: "rateLimits", help: "per identity: TIER=REQUESTS_PER_S/ITEMS_PER_MIN, tiers user and admin, 0 = unlimited (default user=20/10000,admin=0/0)", parse: parseRateLimits },
  { flag: "--cors-origins", env: "SQUARE_CORS_ORIGINS", key: "corsOrigins", help: "origins allowed to call from a browser (comma list, or *); default: CORS off", parse: parseOrigins },
]);

function parseHost(text: string): string {
  if (!/^[A-Za-z0-9.:[\]-]+$/.test(text)) throw new Error(`--host must be an address or host name like 127.0.0.1, 0.0.0.0 or ::, got "${text}"`);
  return text.replace(/^\[(.*)\]$/, "$1");
}

function parseAuthMode(text: string): AuthMode {
  if (!AUTH_MODES.includes(text as AuthMode)) throw new Error(`--auth must be one of ${AUTH_MODES.join(", ")}, got "${text}"`);
  return text as AuthMode;
}

function parseHttpUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`--jwks-url must be an http(s) URL, got "${text}"`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error(`--jwks-url must be an http(s) URL, got "${text}"`);
  return url.href;
}

function parseClaimPath(text: string): string {
  if (!/^[^.\s]+(\.[^.\s]+)*$/.test(text)) throw new Error(`--jwt-roles-claim must be a dot path like realm_access.roles, got "${text}"`);
  return text;
}

function parseSkew(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || n > 600) throw new Error(`--jwt-clock-skew must be 0..600 seconds, got "${text}"`);
  return n;
}

function nonEmpty(text: string, name: string): string {
  if (!text.trim()) throw new Error(`${name} needs a role name`);
  return text.trim();
}

function parseOrigins(text: string): string[] {
  const origins = commaList(text);
  for (const o of origins) {
    if (o === "*") continue;
    let url: URL | undefined;
    try {
      url = new URL(o);
    } catch {
      /* reported below */
    }
    if (!url || url.origin !== o) throw new Error(`--cors-origins entries must be origins like https://app.example.org (scheme, host, optional port; no path) or *, got "${o}"`);
  }
  return origins;
}

/** `user=20/10000,admin=0/0`: tiers not named keep their defaults. */
export function parseRateLimits(text: string): RateLimits {
  const limits: RateLimits = { user: { ...DEFAULT_RATE_LIMITS.user }, admin: { ...DEFAULT_RATE_LIMITS.admin } };
  for (const entry of commaList(text)) {
    const m = /^(user|admin)=(\d+(?:\.\d+)?)\/(\d+)$/.exec(entry);
    if (!m) throw new Error(`--rate-limits entries look like user=20/10000 (tier user or admin = requests per second / items per minute, 0 = unlimited), got "${entry}"`);
    limits[m[1] as keyof RateLimits] = { perSecond: Number(m[2]), itemsPerMinute: Number(m[3]) };
  }
  return limits;
}

/** The flags each mode needs, and flags that would silently do nothing. */
export function checkSecuritySettings(s: SecuritySettings): void {
  const jwtSources = [s.jwksUrl && "--jwks-url", s.jwtPublicKey && "--jwt-public-key", s.jwtSecret && "--jwt-secret"].filter(Boolean);
  if (s.auth === "jwt" && jwtSources.length !== 1) {
    throw new Error(jwtSources.length === 0 ? "--auth jwt needs one key source: --jwks-url URL, --jwt-public-key FILE or --jwt-secret SECRET" : `--auth jwt takes one key source; got ${jwtSources.join(" and ")}`);
  }
  if (s.auth === "jwt" && s.jwtSecret !== undefined && s.jwtSecret.length < 32) throw new Error("--jwt-secret must be at least 32 characters (256 bits for HS256)");
  if (s.auth === "apikey" && !s.apiKeysFile === !s.apiKeysJson) {
    throw new Error(s.apiKeysFile ? "--api-keys and SQUARE_API_KEYS are both set; use one" : "--auth apikey needs --api-keys FILE (or the SQUARE_API_KEYS environment variable)");
  }
  if (s.auth !== "jwt" && jwtSources.length > 0) throw new Error(`${jwtSources.join(", ")} only apply with --auth jwt (--auth is ${s.auth})`);
  if (s.auth !== "apikey" && (s.apiKeysFile || s.apiKeysJson)) throw new Error(`API keys only apply with --auth apikey (--auth is ${s.auth})`);
}
