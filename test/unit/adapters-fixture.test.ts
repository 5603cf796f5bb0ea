/**
 * The adapter fixtures (lib/fixtures/adapters-fixture.ts): deterministic bytes in AdapterHub's layout, read by
 * lib/adapters into the expected typed adapters, and exactly the files the PyTorch goldens
 * (tools/goldens/adapters.py → test/goldens/adapters/) were computed from. The heads as read here, applied in
 * float64 to the goldens' encoder outputs, give the goldens' head outputs (layout and index order agree), and
 * AdapterHub's linear averaging (lib/adapters/average.ts) keeps its algebra.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { loadAdapterFolder, averageAdapterWeights, averageHeads, AdapterError } from "../../lib/adapters/index.ts";
import type { LoadedAdapter, PredictionHead } from "../../lib/adapters/index.ts";
import { DEMO_FIXTURES } from "../../lib/fixtures/index.ts";
import { ADAPTER_BASES, ADAPTER_FIXTURES, adapterFixtureDir, writeAdapterFixtures } from "../../lib/fixtures/adapters-fixture.ts";
import { FIXTURE_DIR, fixturePath } from "../helpers/fixtures.ts";
import { useTempDirs } from "../helpers/temp-dirs.ts";

const GOLDENS = resolve(import.meta.dirname, "../goldens/adapters");
const tempDir = useTempDirs();
const bases = ADAPTER_BASES.map((name) => DEMO_FIXTURES.find((s) => s.name === name)!);
let dirA: string;
let dirB: string;

before(async () => {
  dirA = await tempDir("adapters-a-");
  dirB = await tempDir("adapters-b-");
  for (const base of bases) {
    await writeAdapterFixtures(dirA, base);
    await writeAdapterFixtures(dirB, base);
    await writeAdapterFixtures(FIXTURE_DIR, base); // where tools/goldens/adapters.py reads them
  }
});

const sha256 = async (path: string) => createHash("sha256").update(await readFile(path)).digest("hex");

test("two builds give byte-identical adapter folders in AdapterHub's layout", async () => {
  for (const base of bases) {
    assert.deepEqual((await readdir(adapterFixtureDir(dirA, base.name))).sort(), ADAPTER_FIXTURES.map((s) => s.folder).sort());
    for (const spec of ADAPTER_FIXTURES) {
      const a = join(adapterFixtureDir(dirA, base.name), spec.folder);
      const b = join(adapterFixtureDir(dirB, base.name), spec.folder);
      const files = (await readdir(a)).sort();
      const weights = spec.format === "torch" ? ["pytorch_adapter.bin", "pytorch_model_head.bin"] : ["adapter.safetensors", "model_head.safetensors"];
      assert.deepEqual(files, ["adapter_config.json", "head_config.json", ...weights].sort(), `${base.name}/${spec.folder}`);
      for (const f of files) assert.deepEqual(await readFile(join(a, f)), await readFile(join(b, f)), `${base.name}/${spec.folder}/${f}`);
    }
  }
});

test("the fixtures cover Pfeiffer, Houlsby and LoRA with classification, tagging and QA heads, in both formats", async () => {
  for (const base of bases) {
    const loaded = new Map<string, LoadedAdapter>();
    for (const spec of ADAPTER_FIXTURES) loaded.set(spec.folder, await loadAdapterFolder(join(adapterFixtureDir(dirA, base.name), spec.folder), { hiddenSize: base.size.hiddenSize }));
    const sst = loaded.get("pfeiffer-sst")!;
    assert.equal(sst.format, "torch");
    assert.equal(sst.meta.name, "sst");
    assert.equal(sst.meta.modelType, base.family);
    assert.ok(sst.meta.config.architecture === "bottleneck" && sst.meta.config.originalLnBefore && !sst.meta.config.mhAdapter && sst.meta.config.nonLinearity === "relu");
    assert.ok(sst.weights.kind === "bottleneck" && sst.weights.layers.length === base.size.numLayers);
    assert.ok(sst.weights.kind === "bottleneck" && sst.weights.layers.every((l) => l?.output && !l.attention && l.output.down.weight.shape[0] === 4));
    assert.deepEqual(sst.head?.id2label, ["negative", "neutral", "positive"]);
    assert.equal(sst.head?.layers.length, 2);
    const ner = loaded.get("houlsby-ner")!;
    assert.equal(ner.format, "safetensors");
    assert.ok(ner.meta.config.architecture === "bottleneck" && ner.meta.config.mhAdapter && ner.meta.config.nonLinearity === "silu");
    assert.ok(ner.weights.kind === "bottleneck" && ner.weights.layers.every((l) => l?.attention && l.output));
    assert.equal(ner.head?.type, "tagging");
    assert.deepEqual(ner.head?.id2label, ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]);
    const squad = loaded.get("lora-squad")!;
    assert.equal(squad.meta.version, "3.1.0");
    assert.ok(squad.weights.kind === "lora" && squad.weights.scaling === 2 && squad.weights.layers.every((l) => l?.query && l.value && !l.key));
    assert.equal(squad.head?.type, "question_answering");
    assert.equal(loaded.get("pfeiffer-sentiment")!.format, "safetensors");
    assert.deepEqual(loaded.get("pfeiffer-sentiment")!.meta.config, sst.meta.config, "the two Pfeiffer adapters can be averaged");
  }
  await assert.rejects(loadAdapterFolder(join(adapterFixtureDir(dirA, "bert-tiny-base"), "pfeiffer-sst"), { hiddenSize: 64 }), (err: Error) => err instanceof AdapterError && err.key === "hidden_size");
  await assert.rejects(loadAdapterFolder(dirA), /no adapter_config\.json/);
});

interface GoldenTensor { shape: number[]; data: number[] }
interface GoldenCase {
  adapters: string[];
  weights: number[];
  head_type: string;
  adapter_files: Record<string, Record<string, string>>;
  outputs: Record<string, GoldenTensor>;
  outputs_with_last_head?: Record<string, GoldenTensor>;
}

/** Float64 head maths (research notes §1.4) on a [B, S, H] hidden state. */
function applyHead(head: PredictionHead, hidden: GoldenTensor): Record<string, number[]> {
  const [B, S, H] = hidden.shape;
  const linear = (i: number, x: number[]) => {
    const { weight, bias } = head.layers[i];
    const [out] = weight.shape;
    return Array.from({ length: out }, (_, o) => {
      let s = bias ? bias.data[o] : 0;
      for (let k = 0; k < H; k++) s += weight.data[o * H + k] * x[k];
      return s;
    });
  };
  const row = (b: number, t: number) => hidden.data.slice((b * S + t) * H, (b * S + t + 1) * H);
  if (head.type === "classification") {
    assert.equal(head.activation, "tanh");
    const logits: number[] = [];
    for (let b = 0; b < B; b++) {
      let x = row(b, 0);
      for (let i = 0; i < head.layers.length - 1; i++) x = linear(i, x).map(Math.tanh);
      logits.push(...linear(head.layers.length - 1, x));
    }
    return { logits };
  }
  const per: number[][] = [];
  for (let b = 0; b < B; b++) for (let t = 0; t < S; t++) per.push(linear(0, row(b, t)));
  if (head.type === "tagging") return { logits: per.flat() };
  return { start_logits: per.map((p) => p[0]), end_logits: per.map((p) => p[1]) };
}

function assertClose(name: string, got: number[], want: number[], tol = 2e-5) {
  assert.equal(got.length, want.length, name);
  for (let i = 0; i < want.length; i++) {
    if (Math.abs(got[i] - want[i]) > tol * Math.max(1, Math.abs(want[i]))) assert.fail(`${name}[${i}]: ${got[i]} vs golden ${want[i]}`);
  }
}

test("the PyTorch goldens were computed from exactly these fixture files and base models", async () => {
  for (const base of bases) {
    const golden = JSON.parse(await readFile(join(GOLDENS, `${base.name}.json`), "utf8")) as { model_sha256: string; cases: Record<string, GoldenCase> };
    assert.equal(golden.model_sha256, await sha256(join(await fixturePath(base.name), "model.onnx")), `${base.name} model.onnx`);
    assert.deepEqual(Object.keys(golden.cases), ["pfeiffer-sst", "houlsby-ner", "lora-squad", "average(pfeiffer-sst,pfeiffer-sentiment)"]);
    for (const [name, c] of Object.entries(golden.cases)) {
      for (const [folder, files] of Object.entries(c.adapter_files)) {
        for (const [file, hash] of Object.entries(files)) {
          assert.equal(await sha256(join(adapterFixtureDir(dirA, base.name), folder, file)), hash, `${base.name} ${name}: ${folder}/${file}`);
        }
      }
    }
  }
});

test("heads read by lib/adapters, applied to the goldens' encoder outputs, give the goldens' head outputs (averages included)", async () => {
  for (const base of bases) {
    const golden = JSON.parse(await readFile(join(GOLDENS, `${base.name}.json`), "utf8")) as { cases: Record<string, GoldenCase> };
    for (const [name, c] of Object.entries(golden.cases)) {
      const heads: PredictionHead[] = [];
      for (const folder of c.adapters) heads.push((await loadAdapterFolder(join(adapterFixtureDir(dirA, base.name), folder)))!.head!);
      const head = heads.length === 1 ? heads[0] : averageHeads(heads, c.weights);
      assert.equal(head.type, c.head_type);
      const outputs = applyHead(head, c.outputs.last_hidden_state);
      for (const [k, v] of Object.entries(outputs)) assertClose(`${base.name} ${name} ${k}`, v, c.outputs[k].data);
      if (c.outputs_with_last_head) {
        const last = applyHead(heads[heads.length - 1], c.outputs.last_hidden_state);
        for (const [k, v] of Object.entries(last)) assertClose(`${base.name} ${name} ${k} (last head)`, v, c.outputs_with_last_head[k].data);
      }
    }
  }
});

test("linear averaging: avg([a]) = a, avg([a, a]) = a, weights normalised, LoRA A and B averaged separately, mismatches refused", async () => {
  const dir = adapterFixtureDir(dirA, "bert-tiny-base");
  const load = (folder: string) => loadAdapterFolder(join(dir, folder));
  const [a, b, ner, squad] = await Promise.all(["pfeiffer-sst", "pfeiffer-sentiment", "houlsby-ner", "lora-squad"].map(load));
  assert.deepEqual(averageAdapterWeights([a]), a.weights);
  assert.deepEqual(averageAdapterWeights([a, a]), a.weights);
  assert.deepEqual(averageHeads([a.head!, a.head!], [2, 2]), a.head);
  const mixed = averageAdapterWeights([a, b], [1, 3]);
  assert.ok(mixed.kind === "bottleneck" && a.weights.kind === "bottleneck" && b.weights.kind === "bottleneck");
  const got = mixed.layers[1]!.output!.up.weight.data;
  const wa = a.weights.layers[1]!.output!.up.weight.data;
  const wb = b.weights.layers[1]!.output!.up.weight.data;
  got.forEach((v, i) => assert.ok(Math.abs(v - (0.25 * wa[i] + 0.75 * wb[i])) < 1e-7, `up.weight[${i}]`));
  const lora = averageAdapterWeights([squad, squad], [0.3, 0.7]);
  assert.ok(lora.kind === "lora" && squad.weights.kind === "lora");
  const A = lora.layers[0]!.query!.A.data;
  A.forEach((v, i) => assert.ok(Math.abs(v - (squad.weights.kind === "lora" ? squad.weights.layers[0]!.query!.A.data[i] : NaN)) < 1e-7));
  assert.throws(() => averageAdapterWeights([a, ner]), (err: Error) => err instanceof AdapterError && /different configs/.test(err.message));
  assert.throws(() => averageAdapterWeights([a, squad]), (err: Error) => err instanceof AdapterError && err.key === "config");
  assert.throws(() => averageHeads([a.head!, ner.head!]), (err: Error) => err instanceof AdapterError && err.key === "head");
  assert.throws(() => averageAdapterWeights([a, b], [1, -1]), (err: Error) => err instanceof AdapterError && err.key === "weights");
  assert.throws(() => averageAdapterWeights([a, b], [1]), (err: Error) => err instanceof AdapterError && err.key === "weights");
});
