/**
 * Task store and queue calls on the request path: an unreachable store is a 503, never a 500 or a
 * hang. The client gets a fixed message (the Redis client's own text names hosts, ports and
 * internal states, SPEC §12); the original error rides along as `cause` for the server's log.
 */
import { unavailable, isClassifiedError } from "../errors.ts";

export const STORE_UNAVAILABLE = "task store unavailable; retry shortly";

export async function storeCall<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw storeUnavailable(err);
  }
}

/** The 503 for a failed store call; errors already classified (ours) pass unchanged. */
export function storeUnavailable(err: unknown): unknown {
  if (isClassifiedError(err)) return err;
  const wrapped = unavailable(STORE_UNAVAILABLE);
  (wrapped as Error & { cause?: unknown }).cause = err;
  return wrapped;
}
