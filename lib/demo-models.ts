/** The bundled demo models: generated fixtures, built on first start when missing. */
import { access } from "node:fs/promises";
import { join, resolve } from "node:path";
import { DEMO_ADAPTER_BASE, DEMO_FIXTURES, GENERATIVE_FIXTURES, demoAdapterEntries, writeDemoAdapters, writeFixtures, writeGenerativeFixtures } from "./fixtures/index.ts";
import { withModelDefaults, ModelSettings } from "./config/model-settings.ts";

/** The demo id of the base model with its adapters. */
export const DEMO_ADAPTER_MODEL = "bert-tiny-adapters";

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
  await writeDemoAdapters(root, log);
  // The base model once more, as `bert-tiny-adapters`, serving its AdapterHub adapters (SPEC §9):
  // pfeiffer-sst, pfeiffer-sentiment, houlsby-ner, lora-squad. `bert-tiny-base` stays the plain export.
  return [
    ...[...DEMO_FIXTURES, ...GENERATIVE_FIXTURES].map((spec) => withModelDefaults({ id: spec.name, path: join(root, spec.name) })),
    withModelDefaults({ id: DEMO_ADAPTER_MODEL, path: join(root, DEMO_ADAPTER_BASE), adapters: demoAdapterEntries(root) }),
  ];
}
