/** A model the differentiator cannot handle, for the "explanations unavailable" paths. */
import { cp, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixturePath } from "./fixtures.ts";
import { decodeModel, encodeModel, makeNode } from "../../lib/onnx/graph-io.ts";

/** bert-tiny-sst with Abs(logits) as its output: still a classifier, but Abs has no gradient rule. */
export async function modelWithAbs(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "square-abs-"));
  await cp(await fixturePath("bert-tiny-sst"), dir, { recursive: true });
  const path = join(dir, "model.onnx");
  const model = decodeModel(await readFile(path));
  const out = model.graph.output[0];
  model.graph.node = model.graph.node.map((n) => ({ ...n, output: n.output.map((o) => (o === out.name ? "raw_logits" : o)) }));
  model.graph.node.push(makeNode("Abs", ["raw_logits"], [out.name], [], "abs_logits"));
  await writeFile(path, encodeModel(model));
  return dir;
}
