/** Builds the generated fixture models once per checkout (deterministic, so a cached copy is identical). */
import { access } from "node:fs/promises";
import { join, resolve } from "node:path";
import { DEMO_FIXTURES, writeFixtures } from "../../tools/fixtures/index.ts";

export const FIXTURE_DIR = resolve(process.env.SQUARE_FIXTURE_DIR ?? ".cache/fixtures");

let building: Promise<string> | undefined;

export function fixtureDir(): Promise<string> {
  building ??= (async () => {
    const missing = [];
    for (const spec of DEMO_FIXTURES) {
      const ok = await access(join(FIXTURE_DIR, spec.name, "model.onnx")).then(() => true, () => false);
      if (!ok) missing.push(spec);
    }
    if (missing.length) await writeFixtures(FIXTURE_DIR, missing);
    return FIXTURE_DIR;
  })();
  return building;
}

export const fixturePath = async (name: string): Promise<string> => join(await fixtureDir(), name);
