/**
 * Model ids in routes (SPEC §2): `{identifier}` with optional `?hf_username=U`, or
 * `{hf_username}/{identifier}`. Ids keep their `/`; allowed characters are checked before lookup.
 */
import { invalid } from "../errors.ts";

const PART = /^[A-Za-z0-9._-]{1,128}$/;

function checkPart(part: string, field: string): string {
  if (!PART.test(part) || part === "." || part === "..") {
    throw invalid(`"${part}" is not a valid model id part: use letters, digits, "-", "_" and "."`, field);
  }
  return part;
}

export function modelIdFromRoute(params: { user?: string; id: string }, query: { hf_username?: unknown }): string {
  const id = checkPart(params.id, "identifier");
  if (params.user !== undefined) return `${checkPart(params.user, "hf_username")}/${id}`;
  const user = query.hf_username;
  if (user === undefined || user === "") return id;
  if (typeof user !== "string") throw invalid("hf_username must be a single string", "hf_username");
  return `${checkPart(user, "hf_username")}/${id}`;
}

/** Model ids in configuration files follow the same rule. */
export function checkModelId(id: string): string {
  const parts = id.split("/");
  if (parts.length > 2) throw new Error(`model id "${id}" has more than one "/"`);
  parts.forEach((p) => checkPart(p, "id"));
  return id;
}
