/** What a route needs (SPEC §12, issue #14) and the check: 401 without an identity, 403 without the role. */
import { Identity, RolePolicy, isAdmin, isUser } from "./identity.ts";
import { credentialsMissing, forbidden } from "./errors.ts";

/** `public`: heartbeat, OpenAPI, docs; `user`: predictions, results, stats, models; `admin`: update, metrics. */
export type Access = "public" | "user" | "admin";

export function requireAccess(identity: Identity | null | undefined, access: Access, policy: RolePolicy): void {
  if (access === "public") return;
  if (!identity) throw credentialsMissing();
  if (access === "admin" && !isAdmin(identity, policy)) throw forbidden(`this route needs the "${policy.adminRole}" role, which identity "${identity.id}" does not have`);
  if (access === "user" && !isUser(identity, policy)) throw forbidden(`this route needs the "${policy.userRole}" role, which identity "${identity.id}" does not have`);
}
