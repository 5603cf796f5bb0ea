/** Task store and queue calls on the request path: an unreachable store is a 503, never a 500 or a hang. */
import { unavailable } from "../errors.ts";

export async function storeCall<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw unavailable(`task store unavailable: ${(err as Error).message}`);
  }
}

