/**
 * The adapter-capable graph: a base encoder export plus an "adapter bank" (research notes §5,
 * option A/B): the stacked weights of every loaded adapter and, per batch row, mixing weights
 * over them. One `session.run` serves rows for different adapters, averaged adapters and the
 * plain base model side by side.
 *
 * Inputs added to the graph:
 *   adapter_weights  float32 [batch, n_adapters]   row b's mixing weight of each adapter (bank order);
 *                                                   all zeros = the base model, one-hot = that adapter.
 *   adapter_bank.*   float32 (only with bankStorage "inputs"): the stacked weights, see AdapterGraph.bankTensors.
 *
 * What a row computes (this is AdapterHub's `average_adapter` "linear" rule, notes §2.1, NOT output averaging):
 *   every adapter *parameter* is mixed per row first, Φ_row = Σ_k w_k · Φ_k (for bottlenecks W_d, b_d, W_u, b_u
 *   with the scaling folded into W_u, b_u; for LoRA A and B separately, scaling folded into B), and the adapter
 *   maths then runs once with Φ_row:
 *     bottleneck  f_row(v) = W_u,row · act(W_d,row · v + b_d,row) + b_u,row
 *     LoRA        Δ_row(x) = x · A_rowᵀ · B_rowᵀ
 *   For a one-hot row this is exactly that adapter; for all-zero rows every f/Δ is exactly 0 (the base model).
 *   For (0.5, 0.5) it is the adapter whose parameters are the average of the two, which differs from
 *   averaging the two adapters' outputs 0.5·f_a(v) + 0.5·f_b(v) because act() sits between W_d and W_u
 *   (and, for LoRA, (ΣλB)(ΣλA) has cross terms that ΣλBA lacks). Weights are used as given: normalising them
 *   to sum 1 (AdapterHub's default) is the caller's job.
 *
 * Adapters are grouped by kind: bottlenecks by (method, activation), LoRA in one group; different bottleneck
 * sizes / LoRA ranks in a group are zero-padded (exact: padded units meet zero up-weights). Each group's modules
 * are applied at their sites independently, so a row that mixes adapters of *different* groups gets their modules
 * composed (Houlsby then Pfeiffer at the FFN output, LoRA in attention) — AdapterHub refuses to average adapters
 * with different configs, so callers should refuse such rows too.
 *
 * Bank storage: "initializers" (default) bakes the stacks into the model — nothing is fed per run, ORT can
 * pre-pack them, but changing the bank means rebuilding the session. "inputs" makes them pure graph inputs
 * (never initializers: onnxruntime-node silently ignores feeds for overridable initializers, notes §3), so the
 * bank can change without rebuilding, at the cost of passing n_adapters × adapter size on every run.
 */
import { GraphIndex } from "../graph-surgery.ts";
import {
  DataType, floatTensor, int64Tensor, intAttr, makeNode, valueInfo,
  type AttributeProto, type ModelProto, type NodeProto, type TensorProto,
} from "../graph-io.ts";
import { AdapterGraphError, matchAdapterSites, type AdapterSites, type DenseMatch, type SublayerSite } from "./match.ts";
import type { Adapter, BottleneckActivation, BottleneckAdapter, BottleneckModule, LoraAdapter, LoraTarget } from "./types.ts";

export const ADAPTER_WEIGHTS_INPUT = "adapter_weights";
const PREFIX = "adapter_bank";

export interface AdapterBankOptions {
  bankStorage?: "initializers" | "inputs";
}

export interface BankTensor {
  name: string;
  dims: number[];
  data: Float32Array;
}

export interface AdapterGraph {
  model: ModelProto;
  /** Bank order = the columns of adapter_weights. */
  adapterNames: string[];
  weightsInput: typeof ADAPTER_WEIGHTS_INPUT;
  /** Every stacked weight tensor (graph inputs with bankStorage "inputs", initializers otherwise). */
  bankTensors: BankTensor[];
  bankStorage: "initializers" | "inputs";
  sites: AdapterSites;
  /** Bytes of stacked float32 weights per adapter slot, by group (padding included). */
  bytesPerAdapter: Record<string, number>;
}

/** Shallow copy whose node objects (and their input/output arrays) can be mutated freely. */
function editableCopy(base: ModelProto): ModelProto {
  return {
    ...base,
    graph: {
      ...base.graph,
      node: base.graph.node.map((n) => ({ ...n, input: [...n.input], output: [...n.output] })),
      initializer: [...base.graph.initializer],
      input: [...base.graph.input],
      output: [...base.graph.output],
      valueInfo: [...(base.graph.valueInfo ?? [])],
    },
  };
}

interface Group {
  key: string;
  columns: number[];
}
interface BnGroup extends Group { kind: "bn"; method: BottleneckAdapter["method"]; activation: BottleneckActivation; members: BottleneckAdapter[]; d: number }
interface LoraGroup extends Group { kind: "lora"; members: LoraAdapter[]; r: number; targets: LoraTarget[] }

class Emitter {
  readonly front: NodeProto[] = [];
  readonly after = new Map<NodeProto, NodeProto[]>();
  readonly tensors: BankTensor[] = [];
  readonly consts: TensorProto[] = [];
  private n = 0;
  private readonly constNames = new Map<string, string>();

  fresh(hint: string): string {
    return `/${PREFIX}/${hint}_${this.n++}`;
  }

  /** Emits a node into `into`; returns its output. */
  op(into: NodeProto[], opType: string, inputs: string[], attrs: AttributeProto[] = [], hint = opType): string {
    const out = this.fresh(hint);
    into.push(makeNode(opType, inputs, [out], attrs, out));
    return out;
  }

  int64s(values: number[]): string {
    const key = `i${values.join(",")}`;
    let name = this.constNames.get(key);
    if (!name) {
      name = `${PREFIX}.const_${this.constNames.size}`;
      this.constNames.set(key, name);
      this.consts.push(int64Tensor(name, [values.length], values));
    }
    return name;
  }

  float(value: number): string {
    const key = `f${value}`;
    let name = this.constNames.get(key);
    if (!name) {
      name = `${PREFIX}.const_${this.constNames.size}`;
      this.constNames.set(key, name);
      this.consts.push(floatTensor(name, [], [value]));
    }
    return name;
  }

  bank(name: string, dims: number[], data: Float32Array): string {
    this.tensors.push({ name, dims, data });
    return name;
  }

  nodesAfter(node: NodeProto): NodeProto[] {
    let list = this.after.get(node);
    if (!list) this.after.set(node, (list = []));
    return list;
  }
}

function activation(e: Emitter, into: NodeProto[], x: string, act: BottleneckActivation): string {
  switch (act) {
    case "relu": return e.op(into, "Relu", [x]);
    case "swish":
    case "silu": return e.op(into, "Mul", [x, e.op(into, "Sigmoid", [x])]);
    case "gelu": {
      const erf = e.op(into, "Erf", [e.op(into, "Div", [x, e.float(Math.SQRT2)])]);
      return e.op(into, "Mul", [e.op(into, "Mul", [x, e.float(0.5)]), e.op(into, "Add", [erf, e.float(1)])]);
    }
    case "gelu_new": {
      const cube = e.op(into, "Mul", [e.op(into, "Mul", [x, x]), x]);
      const inner = e.op(into, "Mul", [e.op(into, "Add", [x, e.op(into, "Mul", [cube, e.float(0.044715)])]), e.float(Math.sqrt(2 / Math.PI))]);
      return e.op(into, "Mul", [e.op(into, "Mul", [x, e.float(0.5)]), e.op(into, "Add", [e.op(into, "Tanh", [inner]), e.float(1)])]);
    }
    case "tanh": return e.op(into, "Tanh", [x]);
    case "sigmoid": return e.op(into, "Sigmoid", [x]);
    case "linear": return x;
    default: throw new Error(`adapter bank: unsupported activation ${String(act)}`);
  }
}

/** Per-row mixed weight: Reshape(MatMul(w_group [B,K], stack [K, a·b]), [-1, a, b]). */
function mixed(e: Emitter, w: string, stack: string, a: number, b: number): string {
  return e.op(e.front, "Reshape", [e.op(e.front, "MatMul", [w, stack]), e.int64s([-1, a, b])], [], "mix");
}

const SITES = ["attention", "ffn"] as const;
type SiteName = (typeof SITES)[number];

function bottleneckStacks(g: BnGroup, layer: number, site: SiteName, H: number): { Wd: Float32Array; bd: Float32Array; Wu: Float32Array; bu: Float32Array } | undefined {
  const K = g.members.length, d = g.d;
  const modules: (BottleneckModule | undefined)[] = g.members.map((a) => a.layers[layer]?.[site]);
  if (modules.every((m) => !m)) return undefined;
  const Wd = new Float32Array(K * H * d), bd = new Float32Array(K * d), Wu = new Float32Array(K * d * H), bu = new Float32Array(K * H);
  modules.forEach((m, k) => {
    if (!m) return;
    const dk = m.downBias.length;
    const s = g.members[k].scaling ?? 1;
    const name = `${g.members[k].name} layer ${layer} ${site}`;
    if (m.down.length !== dk * H || m.up.length !== H * dk || m.upBias.length !== H) throw new Error(`adapter bank: ${name}: weight shapes do not match hidden size ${H} and bottleneck ${dk}`);
    for (let i = 0; i < H; i++) for (let j = 0; j < dk; j++) Wd[k * H * d + i * d + j] = m.down[j * H + i];
    bd.set(m.downBias, k * d);
    for (let j = 0; j < dk; j++) for (let i = 0; i < H; i++) Wu[k * d * H + j * H + i] = s * m.up[i * dk + j];
    for (let i = 0; i < H; i++) bu[k * H + i] = s * m.upBias[i];
  });
  return { Wd, bd, Wu, bu };
}

/** Emits u = f_row(v) for one bottleneck group at one site into `into`; returns u, or undefined if the group has no module there. */
function bottleneck(e: Emitter, into: NodeProto[], g: BnGroup, w: string, layer: number, site: SiteName, H: number, v: string): string | undefined {
  const stacks = bottleneckStacks(g, layer, site, H);
  if (!stacks) return undefined;
  const base = `${PREFIX}.${g.key}.layer.${layer}.${site}`;
  const K = g.members.length, d = g.d;
  const Wd = mixed(e, w, e.bank(`${base}.down`, [K, H * d], stacks.Wd), H, d);
  const bd = mixed(e, w, e.bank(`${base}.down_bias`, [K, d], stacks.bd), 1, d);
  const Wu = mixed(e, w, e.bank(`${base}.up`, [K, d * H], stacks.Wu), d, H);
  const bu = mixed(e, w, e.bank(`${base}.up_bias`, [K, H], stacks.bu), 1, H);
  const z = activation(e, into, e.op(into, "Add", [e.op(into, "MatMul", [v, Wd]), bd]), g.activation);
  return e.op(into, "Add", [e.op(into, "MatMul", [z, Wu]), bu]);
}

function sumAll(e: Emitter, into: NodeProto[], terms: string[]): string {
  return terms.reduce((acc, t) => e.op(into, "Add", [acc, t]));
}

/** Adds the bottleneck groups' modules at one sublayer site. */
function spliceSublayer(e: Emitter, index: GraphIndex, site: SublayerSite, siteName: SiteName, layer: number, groups: BnGroup[], weights: Map<Group, string>, H: number): void {
  // Houlsby (double_seq_bn): LN0(h + f(h) + r).
  const h = site.add.input[site.hIndex];
  const hProducer = index.producer.get(h)!;
  const houlsbyNodes = e.nodesAfter(hProducer);
  const houlsby = groups
    .filter((g) => g.method === "double_seq_bn")
    .map((g) => bottleneck(e, houlsbyNodes, g, weights.get(g)!, layer, siteName, H, h))
    .filter((u): u is string => u !== undefined);
  if (houlsby.length) site.add.input[site.hIndex] = e.op(houlsbyNodes, "Add", [h, sumAll(e, houlsbyNodes, houlsby)], [], "houlsby_residual");

  // Pfeiffer (seq_bn): LN0(h + r + f(LN0(h + r))): keep LN0's result under a new name, feed it to f, and
  // recompute LN0 (same nodes, same γ/β/ε) on the sum under the original name, so consumers and graph outputs
  // need no change.
  const lnLast = site.layerNormNodes.at(-1)!;
  const out = site.layerNorm.output;
  const pfeifferNodes = e.nodesAfter(lnLast);
  const renamed = `${out}/${PREFIX}_pre_adapter`;
  const pfeiffer = groups
    .filter((g) => g.method === "seq_bn")
    .map((g) => bottleneck(e, pfeifferNodes, g, weights.get(g)!, layer, siteName, H, renamed))
    .filter((u): u is string => u !== undefined);
  if (!pfeiffer.length) return;
  const sum = e.op(pfeifferNodes, "Add", [site.add.output[0], sumAll(e, pfeifferNodes, pfeiffer)], [], "pfeiffer_residual");
  const map = new Map<string, string>([[site.add.output[0], sum]]);
  for (const n of site.layerNormNodes) {
    for (const o of n.output) map.set(o, o === out ? out : `${o}/${PREFIX}_again`);
    pfeifferNodes.push({ ...n, name: e.fresh(`${n.opType}_again`), input: n.input.map((i) => map.get(i) ?? i), output: n.output.map((o) => map.get(o)!) });
  }
  lnLast.output = lnLast.output.map((o) => (o === out ? renamed : o));
}

/** Adds the LoRA group's Δ to one projection. */
function spliceLora(e: Emitter, g: LoraGroup, w: string, layer: number, target: LoraTarget, dense: DenseMatch): void {
  const K = g.members.length, r = g.r, IN = dense.inFeatures, OUT = dense.outFeatures;
  const modules = g.members.map((a) => a.layers[layer]?.[target]);
  if (modules.every((m) => !m)) return;
  const A = new Float32Array(K * IN * r), B = new Float32Array(K * r * OUT);
  modules.forEach((m, k) => {
    if (!m) return;
    const rk = g.members[k].rank, s = g.members[k].scaling;
    if (m.A.length !== rk * IN || m.B.length !== OUT * rk) throw new Error(`adapter bank: ${g.members[k].name} layer ${layer} ${target}: LoRA shapes do not match rank ${rk} and projection ${IN}→${OUT}`);
    for (let i = 0; i < IN; i++) for (let j = 0; j < rk; j++) A[k * IN * r + i * r + j] = m.A[j * IN + i];
    for (let j = 0; j < rk; j++) for (let o = 0; o < OUT; o++) B[k * r * OUT + j * OUT + o] = s * m.B[o * rk + j];
  });
  const base = `${PREFIX}.${g.key}.layer.${layer}.${target}`;
  const Amix = mixed(e, w, e.bank(`${base}.A`, [K, IN * r], A), IN, r);
  const Bmix = mixed(e, w, e.bank(`${base}.B`, [K, r * OUT], B), r, OUT);
  const into = e.nodesAfter(dense.last);
  const y = dense.output;
  const renamed = `${y}/${PREFIX}_pre_lora`;
  const delta = e.op(into, "MatMul", [e.op(into, "MatMul", [dense.x, Amix]), Bmix], [], "lora_delta");
  into.push(makeNode("Add", [renamed, delta], [y], [], `/${PREFIX}/lora_${layer}_${target}`));
  dense.last.output = dense.last.output.map((o) => (o === y ? renamed : o));
}

function groupAdapters(adapters: readonly Adapter[]): { bn: BnGroup[]; lora?: LoraGroup } {
  const bn = new Map<string, BnGroup>();
  let lora: LoraGroup | undefined;
  const names = new Set<string>();
  adapters.forEach((a, column) => {
    if (names.has(a.name)) throw new Error(`adapter bank: duplicate adapter name ${a.name}`);
    names.add(a.name);
    if (a.method === "lora") {
      lora ??= { kind: "lora", key: "lora", columns: [], members: [], r: 0, targets: [] };
      lora.columns.push(column);
      lora.members.push(a);
      lora.r = Math.max(lora.r, a.rank);
      for (const layer of a.layers) for (const t of Object.keys(layer ?? {}) as LoraTarget[]) if (!lora.targets.includes(t)) lora.targets.push(t);
      return;
    }
    if (a.method !== "seq_bn" && a.method !== "double_seq_bn") throw new Error(`adapter bank: ${(a as Adapter).name}: unsupported method ${(a as { method: string }).method}`);
    const act = a.activation === "silu" ? "swish" : a.activation;
    const key = `${a.method}_${act}`;
    let g = bn.get(key);
    if (!g) bn.set(key, (g = { kind: "bn", key, method: a.method, activation: act, columns: [], members: [], d: 0 }));
    g.columns.push(column);
    g.members.push(a);
    for (const layer of a.layers) for (const m of [layer?.attention, layer?.ffn]) if (m) g.d = Math.max(g.d, m.downBias.length);
    if (a.method === "seq_bn" && a.layers.some((l) => l?.attention)) throw new Error(`adapter bank: ${a.name}: seq_bn (Pfeiffer) has no attention-output module`);
  });
  return { bn: [...bn.values()], lora };
}

/**
 * Builds the adapter-capable graph from a base encoder export (not mutated) and the adapters of the bank.
 * Throws AdapterGraphError when the export's structure is not recognised.
 */
export function buildAdapterGraph(base: ModelProto, adapters: readonly Adapter[], options: AdapterBankOptions = {}): AdapterGraph {
  if (adapters.length === 0) throw new Error("adapter bank: at least one adapter is needed");
  const bankStorage = options.bankStorage ?? "initializers";
  const model = editableCopy(base);
  const index = new GraphIndex(model);
  const sites = matchAdapterSites(model, index);
  const H = sites.hiddenSize;
  const L = sites.layers.length;
  for (const a of adapters) if (a.layers.length > L) throw new AdapterGraphError(`adapter ${a.name} has ${a.layers.length} layers, the graph has ${L}`);
  if (model.graph.input.some((i) => i.name === ADAPTER_WEIGHTS_INPUT)) throw new Error("adapter bank: the graph already has adapter inputs");

  const e = new Emitter();
  const { bn, lora } = groupAdapters(adapters);
  const weights = new Map<Group, string>();
  for (const g of [...bn, ...(lora ? [lora] : [])]) {
    weights.set(g, e.op(e.front, "Gather", [ADAPTER_WEIGHTS_INPUT, e.int64s(g.columns)], [intAttr("axis", 1)], `weights_${g.key}`));
  }
  sites.layers.forEach((layer, l) => {
    if (lora) for (const t of lora.targets) spliceLora(e, lora, weights.get(lora)!, l, t, layer[t]);
    for (const s of SITES) spliceSublayer(e, index, layer[s], s, l, bn, weights, H);
  });

  const nodes = [...e.front];
  for (const n of model.graph.node) nodes.push(n, ...(e.after.get(n) ?? []));
  model.graph.node = nodes;
  model.graph.initializer.push(...e.consts);
  const batch = model.graph.input.find((i) => i.name === "input_ids")?.type?.tensorType?.shape?.dim?.[0]?.dimParam ?? "batch_size";
  model.graph.input.push(valueInfo(ADAPTER_WEIGHTS_INPUT, DataType.FLOAT, [batch, adapters.length]));
  if (bankStorage === "inputs") model.graph.input.push(...e.tensors.map((t) => valueInfo(t.name, DataType.FLOAT, t.dims)));
  else model.graph.initializer.push(...e.tensors.map((t) => floatTensor(t.name, t.dims, t.data)));

  const bytesPerAdapter: Record<string, number> = {};
  for (const t of e.tensors) {
    const group = t.name.split(".")[1];
    bytesPerAdapter[group] = (bytesPerAdapter[group] ?? 0) + (t.data.length / t.dims[0]) * 4;
  }
  return { model, adapterNames: adapters.map((a) => a.name), weightsInput: ADAPTER_WEIGHTS_INPUT, bankTensors: e.tensors, bankStorage, sites, bytesPerAdapter };
}
