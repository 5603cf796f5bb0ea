/**
 * Everything the gateway needs to guard its routes, built once from the settings at start:
 * the authenticator of the `--auth` mode, the role policy, the rate limiter (shared through
 * Redis when the node has one, per process otherwise) and the CORS origins.
 */
import type { SecuritySettings } from "../config/security-settings.ts";
import type { Authenticator } from "./authenticator.ts";
import { createAuthenticator, AuthenticatorOptions } from "./authenticator.ts";
import type { RolePolicy } from "./identity.ts";
import { RateLimiter, MemoryRateLimiter } from "./rate-limiter.ts";
import { RedisRateLimiter } from "./redis-rate-limiter.ts";

export interface GatewaySecurity {
  authenticator: Authenticator;
  policy: RolePolicy;
  limiter: RateLimiter;
  /** `--cors-origins`; empty = CORS off. */
  corsOrigins: string[];
}

export interface SecurityOptions extends AuthenticatorOptions {
  /** Shares rate limits across gateways; undefined = in this process. */
  redis?: string;
  keyPrefix: string;
  warn: (message: string) => void;
}

export async function openSecurity(s: SecuritySettings, options: SecurityOptions): Promise<GatewaySecurity & { close(): Promise<void> }> {
  const authenticator = createAuthenticator(s, options);
  const policy: RolePolicy = { adminRole: s.adminRole, userRole: s.userRole };
  const limiter: RateLimiter = options.redis
    ? await RedisRateLimiter.connect(options.redis, options.keyPrefix, s.rateLimits, policy, options.warn)
    : new MemoryRateLimiter(s.rateLimits, policy);
  return { authenticator, policy, limiter, corsOrigins: s.corsOrigins, close: () => limiter.close() };
}

/** Lines for the start-up log: the mode, loudly when it is `none`, and where rate limits are kept. */
export function securityReport(s: SecuritySettings, shared: boolean, describe: string): { warn: string[]; info: string[] } {
  const limits = `rate limits per identity: user ${rateText(s.rateLimits.user)}, admin ${rateText(s.rateLimits.admin)} (${shared ? "shared by every gateway through Redis" : "kept in this process"})`;
  if (s.auth !== "none") {
    const warn = s.auth === "jwt" && !s.jwtIssuer ? ["jwt without --jwt-issuer: any token the keys verify is accepted, whoever issued it; set --jwt-issuer (and --jwt-audience)"] : [];
    return { warn, info: [`auth: ${describe}; admin role "${s.adminRole}", user role "${s.userRole}"`, limits] };
  }
  const where = s.host === "127.0.0.1" || s.host === "::1" || s.host === "localhost" ? `only this machine can reach it (--host ${s.host})` : `EVERY host that can reach ${s.host} can`;
  return {
    warn: [`AUTH IS OFF (--auth none): any client may predict, read any task, update models and read /metrics; ${where}. Use --auth jwt or --auth apikey before exposing the gateway (README "Operating securely")`],
    info: [limits],
  };
}

function rateText(limit: { perSecond: number; itemsPerMinute: number }): string {
  const part = (n: number, unit: string) => (n > 0 ? `${n} ${unit}` : `unlimited ${unit}`);
  return `${part(limit.perSecond, "requests/s")}, ${part(limit.itemsPerMinute, "items/min")}`;
}
