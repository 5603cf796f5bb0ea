/**
 * adapter_config.json, head_config.json and the weight layout (lib/adapters/config.ts, head.ts, weights.ts):
 * the supported methods parse into typed configs (with AdapterHub's compatibility fixes), anything unsupported
 * is refused with an error naming the key and value, and weights are sorted by layer and role with
 * missing, misnamed or misshapen tensors named.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseAdapterConfigFile, parseMethodConfig, parseHead, organiseWeights, bottleneckSize, AdapterError } from "../../lib/adapters/index.ts";
import type { BottleneckConfig, LoraConfig, WeightTensor } from "../../lib/adapters/index.ts";

const PFEIFFER_310 = {
  adapter_residual_before_ln: false, cross_adapter: false, factorized_phm_W: true, factorized_phm_rule: false, hypercomplex_nonlinearity: "glorot-uniform",
  init_weights: "bert", inv_adapter: null, inv_adapter_reduction_factor: null, is_parallel: false, learn_phm: true, leave_out: [], ln_after: false,
  ln_before: false, mh_adapter: false, non_linearity: "relu", original_ln_after: true, original_ln_before: true, output_adapter: true, phm_bias: true,
  phm_c_init: "normal", phm_dim: 4, phm_init_range: 0.0001, phm_layer: false, phm_rank: 1, reduction_factor: 16, residual_before_ln: true,
  scaling: 1.0, shared_W_phm: false, shared_phm_rule: true, use_gating: false,
};
const LORA = { architecture: "lora", selfattn_lora: true, intermediate_lora: false, output_lora: false, r: 8, alpha: 16, dropout: 0.1, attn_matrices: ["q", "v"], composition_mode: "add", init_weights: "lora", use_gating: false };

const file = (config: unknown, extra: Record<string, unknown> = {}) => ({ name: "a", model_type: "bert", hidden_size: 32, version: "adapters.1.1.0", config, ...extra });

function refusesKey(fn: () => unknown, key: string, message?: RegExp) {
  assert.throws(fn, (err: Error) => {
    assert.ok(err instanceof AdapterError, String(err));
    assert.equal(err.key, key, err.message);
    assert.match(err.message, message ?? new RegExp(key.replace(/[.]/g, "\\.")));
    return true;
  });
}

test("Pfeiffer (adapter-transformers 3.1.0 file), Houlsby and LoRA configs parse into typed configs", () => {
  const p = parseAdapterConfigFile(file(PFEIFFER_310, { version: "3.1.0", model_class: "BertModelWithHeads" }));
  assert.equal(p.name, "a");
  assert.equal(p.modelClass, "BertModelWithHeads");
  assert.deepEqual(p.config, {
    architecture: "bottleneck", mhAdapter: false, outputAdapter: true, reductionFactor: 16, nonLinearity: "relu", originalLnBefore: true,
    originalLnAfter: true, residualBeforeLn: true, adapterResidualBeforeLn: false, lnBefore: false, lnAfter: false, scaling: 1, leaveOut: [],
  } satisfies BottleneckConfig);
  const h = parseMethodConfig("houlsby", "adapters.1.0.0") as BottleneckConfig;
  assert.equal(h.mhAdapter, true);
  assert.equal(h.nonLinearity, "silu");
  assert.equal(h.originalLnBefore, false);
  assert.deepEqual(parseMethodConfig("double_seq_bn", "x"), h);
  assert.deepEqual(parseMethodConfig("seq_bn", "x"), parseMethodConfig("pfeiffer", "x"));
  const l = parseMethodConfig(LORA, "adapters.1.1.0") as LoraConfig;
  assert.deepEqual(l, { architecture: "lora", r: 8, alpha: 16, scaling: 2, selfattnLora: true, attnMatrices: ["q", "v"], intermediateLora: false, outputLora: false, leaveOut: [] });
});

test("compatibility fixes: gelu renames without a version, LoRA alpha := r before adapters 1.1.0", () => {
  const gelu = { ...PFEIFFER_310, non_linearity: "gelu" };
  assert.equal((parseMethodConfig(gelu, undefined) as BottleneckConfig).nonLinearity, "gelu_new");
  assert.equal((parseMethodConfig({ ...gelu, non_linearity: "gelu_orig" }, undefined) as BottleneckConfig).nonLinearity, "gelu");
  assert.equal((parseMethodConfig(gelu, "3.1.0") as BottleneckConfig).nonLinearity, "gelu");
  assert.equal((parseMethodConfig(LORA, "adapters.1.0.1") as LoraConfig).alpha, 8);
  assert.equal((parseMethodConfig(LORA, "adapters.0.2.0") as LoraConfig).scaling, 1);
  assert.equal((parseMethodConfig(LORA, "adapters.1.1.0") as LoraConfig).alpha, 16);
  assert.equal((parseMethodConfig(LORA, "3.1.0") as LoraConfig).alpha, 16, "adapter-transformers versions are not touched");
});

test("per-layer reduction factors, leave_out and the bottleneck width", () => {
  const c = parseMethodConfig({ ...PFEIFFER_310, reduction_factor: { "1": 4, default: 16 }, leave_out: [0] }, "x") as BottleneckConfig;
  assert.equal(bottleneckSize(c, 1, 32), 8);
  assert.equal(bottleneckSize(c, 2, 32), 2);
  assert.equal(bottleneckSize(parseMethodConfig({ ...PFEIFFER_310, reduction_factor: 64 }, "x") as BottleneckConfig, 0, 32), 1, "at least 1");
  assert.deepEqual(c.leaveOut, [0]);
  const noDefault = parseMethodConfig({ ...PFEIFFER_310, reduction_factor: { "1": 4 } }, "x") as BottleneckConfig;
  refusesKey(() => bottleneckSize(noDefault, 0, 32), "reduction_factor");
});

test("unsupported methods and values are refused, naming the key and the value", () => {
  const cases: [unknown, string, RegExp][] = [
    [{ ...PFEIFFER_310, is_parallel: true }, "is_parallel", /is_parallel=true is not supported \(parallel bottleneck/],
    [{ ...PFEIFFER_310, use_gating: true }, "use_gating", /use_gating=true/],
    [{ ...PFEIFFER_310, phm_layer: true }, "phm_layer", /phm_layer=true.*Compacter/],
    [{ ...PFEIFFER_310, inv_adapter: "nice" }, "inv_adapter", /inv_adapter="nice".*invertible/],
    [{ ...PFEIFFER_310, non_linearity: "mish" }, "non_linearity", /non_linearity="mish"/],
    [{ ...PFEIFFER_310, reduction_factor: 0 }, "reduction_factor", /reduction_factor=0/],
    [{ ...PFEIFFER_310, reduction_factor: { "1": -2 } }, "reduction_factor.1", /reduction_factor\.1=-2/],
    [{ ...PFEIFFER_310, residual_before_ln: "sometimes" }, "residual_before_ln", /residual_before_ln="sometimes"/],
    [{ ...PFEIFFER_310, scaling: "auto" }, "scaling", /scaling="auto"/],
    [{ ...PFEIFFER_310, ln_before: "yes" }, "ln_before", /ln_before="yes"/],
    [{ ...PFEIFFER_310, output_adapter: false }, "output_adapter", /does nothing/],
    [{ ...PFEIFFER_310, leave_out: "0" }, "leave_out", /leave_out="0"/],
    [{ ...PFEIFFER_310, brand_new_option: 3 }, "brand_new_option", /brand_new_option=3 is not supported \(unknown adapter config key\)/],
    [{ architecture: "prefix_tuning", prefix_length: 30 }, "architecture", /architecture="prefix_tuning"/],
    [{ architecture: "union", configs: [] }, "architecture", /architecture="union"/],
    [{ ...LORA, composition_mode: "scale" }, "composition_mode", /composition_mode="scale".*IA³/],
    [{ ...LORA, r: 0 }, "r", /r=0/],
    [{ ...LORA, alpha: "big" }, "alpha", /alpha="big"/],
    [{ ...LORA, attn_matrices: ["q", "o"] }, "attn_matrices", /attn_matrices=\["q","o"\]/],
    [{ ...LORA, use_gating: true }, "use_gating", /use_gating=true/],
    [{ ...LORA, vera_d: 0.1 }, "vera_d", /VeRA/],
    [{ mh_adapter: true, output_adapter: true, non_linearity: "relu" }, "reduction_factor", /missing/],
    ["prefix_tuning", "config", /config="prefix_tuning".*presets/],
    [42, "config", /config=42/],
  ];
  for (const [config, key, message] of cases) refusesKey(() => parseAdapterConfigFile(file(config)), key, message);
  // Unknown keys set to null/false are tolerated (newer library versions add such keys).
  assert.doesNotThrow(() => parseMethodConfig({ ...PFEIFFER_310, some_future_flag: false, other: null }, "x"));
  refusesKey(() => parseAdapterConfigFile({ config: PFEIFFER_310 }), "name", /name=undefined/);
  refusesKey(() => parseAdapterConfigFile({ name: "a" }), "config");
  refusesKey(() => parseAdapterConfigFile(file(PFEIFFER_310, { hidden_size: -1 })), "hidden_size");
});

// ---- weights ----

const t = (...shape: number[]): WeightTensor => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)), dtype: "float32" });

function bottleneckDict(prefix: string, name: string, layers: number[], locations: string[], d = 2, H = 32, legacy?: string): Map<string, WeightTensor> {
  const m = new Map<string, WeightTensor>();
  for (const l of layers) {
    for (const loc of locations) {
      const p = `${prefix}encoder.layer.${l}.${loc}.${legacy ?? "adapters"}.${name}`;
      m.set(`${p}.adapter_down.0.weight`, t(d, H)).set(`${p}.adapter_down.0.bias`, t(d)).set(`${p}.adapter_up.weight`, t(H, d)).set(`${p}.adapter_up.bias`, t(H));
    }
  }
  return m;
}

test("bottleneck weights are sorted by layer and location, with or without the model prefix, legacy names mapped", () => {
  const pfeiffer = parseMethodConfig("pfeiffer", "x");
  for (const prefix of ["bert.", "roberta.", ""]) {
    const w = organiseWeights("sst", pfeiffer, bottleneckDict(prefix, "sst", [0, 1], ["output"]), 32);
    assert.equal(w.kind, "bottleneck");
    assert.equal(w.layers.length, 2);
    assert.deepEqual(w.kind === "bottleneck" && w.layers[1]!.output!.down.weight.shape, [2, 32]);
    assert.equal(w.kind === "bottleneck" && w.layers[1]!.attention, undefined);
  }
  const legacy = organiseWeights("sst", pfeiffer, bottleneckDict("bert.", "sst", [0], ["output"], 2, 32, "layer_text_task_adapters"), 32);
  assert.equal(legacy.layers.length, 1);
  const houlsby = organiseWeights("ner", parseMethodConfig("houlsby", "x"), bottleneckDict("", "ner", [0, 1, 2], ["attention.output", "output"]), 32);
  assert.ok(houlsby.kind === "bottleneck" && houlsby.layers.every((l) => l?.attention && l.output));
  const leaveOut = parseMethodConfig({ ...PFEIFFER_310, leave_out: [0] }, "x");
  const skipped = organiseWeights("sst", leaveOut, bottleneckDict("", "sst", [1], ["output"], 2), 32);
  assert.equal(skipped.layers[0], undefined);
});

test("bottleneck weight errors name the tensor", () => {
  const pfeiffer = parseMethodConfig("pfeiffer", "x");
  const dict = bottleneckDict("bert.", "sst", [0], ["output"]);
  refusesKey(() => organiseWeights("other", pfeiffer, dict, 32), "bert.encoder.layer.0.output.adapters.sst.adapter_down.0.weight", /belongs to adapter sst, not other/);
  const missing = new Map(dict);
  missing.delete("bert.encoder.layer.0.output.adapters.sst.adapter_up.bias");
  refusesKey(() => organiseWeights("sst", pfeiffer, missing, 32), "adapter_up.bias", /layer 0 output has no adapters\.sst\.adapter_up\.bias/);
  refusesKey(() => organiseWeights("sst", pfeiffer, dict, 64), "layer 0 output adapters.sst.adapter_down.0.weight", /shape \[2, 32\], expected \[4, 64\]/);
  const stray = new Map(dict).set("bert.encoder.layer.0.output.adapters.sst.gate.weight", t(1, 32));
  refusesKey(() => organiseWeights("sst", pfeiffer, stray, 32), "bert.encoder.layer.0.output.adapters.sst.gate.weight", /not expected/);
  const base = new Map(dict).set("bert.encoder.layer.0.output.dense.weight", t(32, 32));
  refusesKey(() => organiseWeights("sst", pfeiffer, base, 32), "bert.encoder.layer.0.output.dense.weight", /not a bottleneck adapter weight/);
  const attention = bottleneckDict("", "sst", [0], ["attention.output"]);
  refusesKey(() => organiseWeights("sst", pfeiffer, attention, 32), "encoder.layer.0.attention.output.adapters.sst.adapter_down.0.weight", /no mh_adapter/);
});

test("LoRA weights by layer and target, with the scaling; errors name the tensor", () => {
  const lora = parseMethodConfig({ ...LORA, r: 4, alpha: 8 }, "adapters.1.1.0");
  const dict = new Map<string, WeightTensor>();
  for (const l of [0, 1]) for (const m of ["query", "value"]) dict.set(`bert.encoder.layer.${l}.attention.self.${m}.loras.qa.lora_A`, t(4, 32)).set(`bert.encoder.layer.${l}.attention.self.${m}.loras.qa.lora_B`, t(32, 4));
  const w = organiseWeights("qa", lora, dict, 32);
  assert.equal(w.kind, "lora");
  assert.ok(w.kind === "lora" && w.scaling === 2 && w.layers.length === 2 && w.layers[1]!.value!.B.shape[0] === 32 && !w.layers[0]!.key);
  const key = new Map(dict).set("bert.encoder.layer.0.attention.self.key.loras.qa.lora_A", t(4, 32));
  refusesKey(() => organiseWeights("qa", lora, key, 32), "bert.encoder.layer.0.attention.self.key.loras.qa.lora_A", /does not adapt attention\.self\.key/);
  const noB = new Map(dict);
  noB.delete("bert.encoder.layer.1.attention.self.value.loras.qa.lora_B");
  refusesKey(() => organiseWeights("qa", lora, noB, 32), "value.lora_B", /layer 1 value loras\.qa lacks lora_B/);
  const badRank = new Map(dict).set("bert.encoder.layer.0.attention.self.query.loras.qa.lora_A", t(8, 32));
  refusesKey(() => organiseWeights("qa", lora, badRank, 32), "lora_A", /\[8, 32\], expected \[4, in\]/);
});

// ---- heads ----

const headFile = (config: Record<string, unknown>, name = "sst") => ({ name, model_type: "bert", hidden_size: 32, config });

test("heads: classification with its label map, tagging, QA; Linear layers in index order whatever the Dropout slots", () => {
  const cls = new Map<string, WeightTensor>([["heads.sst.4.weight", t(3, 32)], ["heads.sst.4.bias", t(3)], ["heads.sst.1.weight", t(32, 32)], ["heads.sst.1.bias", t(32)]]);
  const head = parseHead(headFile({ head_type: "classification", num_labels: 3, layers: 2, activation_function: "tanh", label2id: { neg: 0, pos: 2, neu: 1 }, use_pooler: false, bias: true }), cls, 32);
  assert.equal(head.type, "classification");
  assert.deepEqual(head.id2label, ["neg", "neu", "pos"]);
  assert.deepEqual(head.layers.map((l) => l.weight.shape), [[32, 32], [3, 32]]);
  // adapter-transformers 3.1.0 without dropout: Linear at 0 and 2.
  const noDropout = new Map<string, WeightTensor>([["heads.sst.0.weight", t(32, 32)], ["heads.sst.0.bias", t(32)], ["heads.sst.2.weight", t(2, 32)], ["heads.sst.2.bias", t(2)]]);
  const plain = parseHead(headFile({ head_type: "classification", num_labels: 2, layers: 2 }), noDropout, 32);
  assert.deepEqual(plain.id2label, ["LABEL_0", "LABEL_1"]);
  assert.deepEqual(plain.layers.map((l) => l.weight.shape), [[32, 32], [2, 32]]);
  const qa = parseHead(headFile({ head_type: "question_answering", num_labels: 2, layers: 1 }, "squad"), new Map([["heads.squad.1.weight", t(2, 32)], ["heads.squad.1.bias", t(2)]]), 32);
  assert.equal(qa.id2label, undefined);
  const tag = parseHead(headFile({ head_type: "tagging", num_labels: 5, layers: 1, bias: false }, "ner"), new Map([["heads.ner.1.weight", t(5, 32)]]), 32);
  assert.equal(tag.layers[0].bias, undefined);
});

test("head errors name the key", () => {
  const qa = new Map<string, WeightTensor>([["heads.squad.1.weight", t(2, 32)], ["heads.squad.1.bias", t(2)]]);
  const cfg = { head_type: "question_answering", num_labels: 2, layers: 1 };
  refusesKey(() => parseHead(headFile({ ...cfg, head_type: "multiple_choice" }, "squad"), qa, 32), "head_type", /head_type="multiple_choice"/);
  refusesKey(() => parseHead(headFile({ ...cfg, head_type: "causal_lm" }, "squad"), qa, 32), "head_type");
  refusesKey(() => parseHead(headFile({ ...cfg, num_labels: 3 }, "squad"), qa, 32), "num_labels", /2 outputs/);
  refusesKey(() => parseHead(headFile({ ...cfg, activation_function: "softsign" }, "squad"), qa, 32), "activation_function");
  refusesKey(() => parseHead(headFile({ ...cfg, layers: 2 }, "squad"), qa, 32), "layers", /1 Linear layer\(s\).*layers=2/);
  refusesKey(() => parseHead(headFile(cfg, "other"), qa, 32), "heads.squad.1.weight", /belongs to head squad, not other/);
  refusesKey(() => parseHead(headFile({ ...cfg, bias: false }, "squad"), qa, 32), "heads.squad.1.bias", /bias=false/);
  refusesKey(() => parseHead(headFile(cfg, "squad"), qa, 64), "heads.squad.1.weight", /expected \[2, 64\]/);
  const tag = new Map<string, WeightTensor>([["heads.ner.1.weight", t(2, 32)], ["heads.ner.1.bias", t(2)]]);
  const tagCfg = { head_type: "tagging", num_labels: 2, layers: 1 };
  refusesKey(() => parseHead(headFile({ ...tagCfg, label2id: { O: 0, X: 5 } }, "ner"), tag, 32), "label2id.X", /label2id\.X=5/);
  refusesKey(() => parseHead(headFile({ ...tagCfg, label2id: { O: 0, X: 0 } }, "ner"), tag, 32), "label2id.X", /already names O/);
  refusesKey(() => parseHead(headFile({ ...tagCfg, label2id: { O: 1 } }, "ner"), tag, 32), "label2id", /no label for id 0/);
  refusesKey(() => parseHead(headFile({ ...tagCfg, use_pooler: true }, "ner"), tag, 32), "use_pooler");
});
