/**
 * The gateway's guard, run before the body is read: finds the route, authenticates (401), checks
 * its role (403) and the identity's request rate (429), and leaves the identity on the request
 * for moleculer-web's `authenticate` hook (which puts it in `ctx.meta.user`). Paths that match no
 * route still need credentials, so only the public routes answer anonymous clients.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Identity } from "../auth/identity.ts";
import type { GatewaySecurity } from "../auth/security.ts";
import { requireAccess } from "../auth/access.ts";
import { storeCall } from "../store/store-call.ts";
import { matchRoute, pathUnder } from "./route-match.ts";

export type GuardedRequest = IncomingMessage & { $identity?: Identity; parsedUrl?: string };

export function authMiddleware(prefix: string, security: GatewaySecurity) {
  return (req: GuardedRequest, _res: ServerResponse, next: (err?: unknown) => void): void => {
    admit(req, prefix, security).then(() => next(), next);
  };
}

async function admit(req: GuardedRequest, prefix: string, { authenticator, policy, limiter }: GatewaySecurity): Promise<void> {
  const path = pathUnder(prefix, req.parsedUrl ?? req.url ?? "");
  const access = (path !== undefined ? matchRoute(req.method, path)?.access : undefined) ?? "user";
  if (access === "public") return;
  const identity = await authenticator.authenticate(req.headers.authorization);
  requireAccess(identity, access, policy);
  // A Redis outage is a 503 (storeCall), as for every other store call; a 429 passes unchanged.
  await storeCall(() => limiter.take(identity, { requests: 1, items: 0 }));
  req.$identity = identity;
}
