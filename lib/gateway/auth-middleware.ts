/**
 * The gateway's guard, run before the body is read: finds the route, authenticates (401), checks
 * its role (403) and the identity's request rate (429), and leaves the identity on the request
 * for moleculer-web's `authenticate` hook (which puts it in `ctx.meta.user`). Paths that match no
 * route still need credentials, so only the public routes answer anonymous clients.
 */
import type { GatewaySecurity } from "../auth/security.ts";
import { matchRoute } from "./route-match.ts";
import { routeGuard } from "./route-guard.ts";

export type { GuardedRequest } from "./route-guard.ts";

export function authMiddleware(prefix: string, security: GatewaySecurity) {
  return routeGuard(prefix, security, (method, path) => matchRoute(method, path)?.access, "user");
}
