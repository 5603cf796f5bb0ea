/** A models root for management tests: a servable folder, a broken one, and symlinks inside and outside. */
import { cp, mkdir, mkdtemp, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixturePath } from "./fixtures.ts";

export async function makeModelsRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "square-models-root-"));
  await cp(await fixturePath("bert-tiny-sst"), join(root, "bert-tiny-sst"), { recursive: true });
  await mkdir(join(root, "nested"));
  await cp(await fixturePath("bert-tiny-sst"), join(root, "nested", "sst"), { recursive: true });
  await mkdir(join(root, "broken"));
  await writeFile(join(root, "broken", "config.json"), "{}");
  await symlink(await fixturePath("bert-tiny-base"), join(root, "outside"));
  await symlink(join(root, "bert-tiny-sst"), join(root, "inside-link"));
  return root;
}

/** SQuARE's DeployRequest as square_model_client's docstring sends it, naming a folder under the root. */
export const squareDeployBody = (identifier: string, folder: string) => ({
  identifier,
  model_name: folder,
  model_type: "transformer",
  disable_gpu: true,
  batch_size: 32,
  max_input: 1024,
  transformers_cache: "../.cache",
  model_class: "base",
  return_plaintext_arrays: false,
  preloaded_adapters: true,
});
