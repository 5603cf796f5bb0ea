/** Who a request comes from, and what the server's two logical roles mean for it. */

export interface Identity {
  /** Stable id: a token's `sub`, or an API key's `identity`. Tasks are bound to it. */
  id: string;
  /** Role names as the token or key file gives them. */
  roles: readonly string[];
  /** How it was established: `none` is the one anonymous identity of `--auth none`. */
  via: "none" | "jwt" | "apikey";
}

/** `--admin-role` and `--user-role` (`*`: every authenticated identity is a user). */
export interface RolePolicy {
  adminRole: string;
  userRole: string;
}

/** With `--auth none` every client is this identity and may do everything (the embedded default). */
export const ANONYMOUS: Identity = Object.freeze({ id: "anonymous", roles: Object.freeze([]), via: "none" });

export const isAdmin = (identity: Identity, policy: RolePolicy): boolean => identity.via === "none" || identity.roles.includes(policy.adminRole);

/** Admins are users too. */
export const isUser = (identity: Identity, policy: RolePolicy): boolean =>
  policy.userRole === "*" || isAdmin(identity, policy) || identity.roles.includes(policy.userRole);

/** The rate-limit tier of an identity. */
export const tierOf = (identity: Identity, policy: RolePolicy): "admin" | "user" => (isAdmin(identity, policy) ? "admin" : "user");

/** The owner recorded on a task: none without authentication (such tasks are readable only by admins once auth is on). */
export const ownerOf = (identity: Identity): string | undefined => (identity.via === "none" ? undefined : identity.id);

/** Whether `identity` may see a task owned by `owner`: its own, or any for an admin. */
export const maySeeTask = (identity: Identity, policy: RolePolicy, owner: string | undefined): boolean =>
  isAdmin(identity, policy) || (owner !== undefined && owner === identity.id);
