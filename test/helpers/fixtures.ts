/** Builds the generated fixture models once per checkout (deterministic, so a cached copy is identical). */
import { access } from "node:fs/promises";
import { join, resolve } from "node:path";
import { DEMO_FIXTURES, writeDemoAdapters, writeFixtures, writeGenerativeFixtures } from "../../lib/fixtures/index.ts";

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
    await writeGenerativeFixtures(FIXTURE_DIR);
    await writeDemoAdapters(FIXTURE_DIR);
    return FIXTURE_DIR;
  })();
  return building;
}

export const fixturePath = async (name: string): Promise<string> => join(await fixtureDir(), name);

/** Writes a models file naming fixture folders; returns its path. */
export async function writeModelsFile(models: Record<string, unknown>[]): Promise<string> {
  const { mkdtemp, writeFile } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const dir = await fixtureDir();
  const file = join(await mkdtemp(join(tmpdir(), "square-models-")), "models.json");
  await writeFile(file, JSON.stringify({ models: models.map((m) => ({ ...m, path: resolve(dir, m.path as string) })) }));
  return file;
}
