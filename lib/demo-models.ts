/** The bundled demo models: generated fixtures, built on first start when missing. */
import { access } from "node:fs/promises";
import { join, resolve } from "node:path";
import { DEMO_FIXTURES, GENERATIVE_FIXTURES, writeFixtures, writeGenerativeFixtures } from "./fixtures/index.ts";
import { withModelDefaults, ModelSettings } from "./config/model-settings.ts";

const exists = (p: string) => access(p).then(() => true, () => false);

export async function demoModels(dir: string, log: (msg: string) => void): Promise<ModelSettings[]> {
  const root = resolve(dir);
  const missing = [];
  for (const spec of DEMO_FIXTURES) if (!(await exists(join(root, spec.name, "model.onnx")))) missing.push(spec);
  if (missing.length) {
    log(`building ${missing.length} demo model(s) in ${root} (first start only)`);
    await writeFixtures(root, missing, log);
  }
  await writeGenerativeFixtures(root, log);
  return [...DEMO_FIXTURES, ...GENERATIVE_FIXTURES].map((spec) => withModelDefaults({ id: spec.name, path: join(root, spec.name) }));
}
