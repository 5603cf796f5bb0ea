/**
 * ModelStatistics as a non-admin sees it: file paths reduced to their file names, so the server's
 * directory layout (user names, mount points) does not leak (issue #14). Admins see the paths.
 */
import { basename } from "node:path";

const PATH_FIELDS = ["model_path", "decoder_path", "transformers_cache"] as const;

export function statsForNonAdmin(stats: Record<string, unknown>): Record<string, unknown> {
  const out = { ...stats };
  for (const field of PATH_FIELDS) if (typeof out[field] === "string" && out[field] !== "") out[field] = basename(out[field] as string);
  return out;
}
