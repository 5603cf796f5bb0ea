/**
 * The pieces both route tables (the API's, routes.ts, and the model manager's,
 * management-routes.ts) guard and match with. It imports neither table, so both can use it:
 * routes.ts imports management-routes.ts.
 * - `pathUnder`: the path under a prefix;
 * - `routeRegex`: a route path with `:params` as a regular expression;
 * - `routeGuard`: the middleware run before the body is read: finds the route's access, then
 *   authenticates (401), checks the role (403) and the identity's request rate (429), and leaves
 *   the identity on the request for moleculer-web's `authenticate` hook.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Access } from "../auth/access.ts";
import { requireAccess } from "../auth/access.ts";
import type { GatewaySecurity } from "../auth/security.ts";
import type { Identity } from "../auth/identity.ts";
import { storeCall } from "../store/store-call.ts";

export type GuardedRequest = IncomingMessage & { $identity?: Identity; parsedUrl?: string };

/** The path under the prefix, without query and trailing slash; undefined when outside the prefix. */
export function pathUnder(prefix: string, url: string): string | undefined {
  let path = url.split("?", 1)[0];
  if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
  if (path !== prefix && !path.startsWith(`${prefix}/`)) return undefined;
  return path.slice(prefix.length + 1);
}

/** A route path (`a/:id/b`) as an anchored regular expression; a `:param` is one path segment. */
export function routeRegex(path: string): RegExp {
  return new RegExp(`^${path.split("/").map((part) => (part.startsWith(":") ? "[^/]+" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))).join("/")}$`);
}

/**
 * The guard of the routes under `prefix`: `accessAt` names a matched route's access; a path that
 * matches no route gets `unmatched` (never public: only the public routes answer anonymous clients).
 */
export function routeGuard(prefix: string, { authenticator, policy, limiter }: GatewaySecurity, accessAt: (method: string | undefined, path: string) => Access | undefined, unmatched: Exclude<Access, "public">) {
  const admit = async (req: GuardedRequest): Promise<void> => {
    const path = pathUnder(prefix, req.parsedUrl ?? req.url ?? "");
    const access = (path !== undefined ? accessAt(req.method, path) : undefined) ?? unmatched;
    if (access === "public") return;
    const identity = await authenticator.authenticate(req.headers.authorization);
    requireAccess(identity, access, policy);
    // A Redis outage is a 503 (storeCall), as for every other store call; a 429 passes unchanged.
    await storeCall(() => limiter.take(identity, { requests: 1, items: 0 }));
    req.$identity = identity;
  };
  return (req: GuardedRequest, _res: ServerResponse, next: (err?: unknown) => void): void => {
    admit(req).then(() => next(), next);
  };
}
