/** Reading identity and roles out of verified JWT claims. */

/** The value at a dot path (`realm_access.roles`, `resource_access.my-client.roles`); own keys only. */
export function claimAt(payload: unknown, path: string): unknown {
  let value: unknown = payload;
  for (const part of path.split(".")) {
    if (typeof value !== "object" || value === null || Array.isArray(value) || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Roles at the claim: a list of strings, or one space-separated string (like `scope`). Anything else is no roles. */
export function rolesAt(payload: unknown, path: string): string[] {
  const value = claimAt(payload, path);
  if (typeof value === "string") return value.split(/\s+/).filter(Boolean);
  if (Array.isArray(value)) return value.filter((r): r is string => typeof r === "string");
  return [];
}
