/** Temporary folders for one test file, removed by an `after` hook once its tests are done. */
import { after } from "node:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Registers the cleanup hook; returns a function making a fresh folder under the OS temp dir. */
export function useTempDirs(): (prefix: string) => Promise<string> {
  const made: string[] = [];
  after(async () => {
    for (const d of made) await rm(d, { recursive: true, force: true });
  });
  return async (prefix) => {
    const d = await mkdtemp(join(tmpdir(), prefix));
    made.push(d);
    return d;
  };
}
