/**
 * For the adapter-graph tests and benchmark: deterministic random AdapterHub-shaped adapters, and an
 * independent "naive" reference — ONE adapter spliced straight into a fixture graph, found by the
 * fixture's Hugging Face parameter names (not by lib/onnx/adapters' structural matching), with its
 * weights as constants in PyTorch layout, written from the research notes' formulas (adapters.md §1.3):
 *
 *   seq_bn         out = LN0(h + r + f(LN0(h + r)))          at the FFN output
 *   double_seq_bn  out = LN0(h + r + f(h))                   at the attention output and the FFN output
 *   lora           y = x·Wᵀ + b + scaling · (x·Aᵀ)·Bᵀ         on the chosen projections
 *   f(v) = s · (W_u · act(W_d · v + b_d) + b_u)
 */
import { Rng } from "../../lib/fixtures/random.ts";
import { floatTensor, makeNode, intsAttr, type ModelProto, type NodeProto } from "../../lib/onnx/graph-io.ts";
import type { Adapter, BottleneckActivation, BottleneckAdapter, BottleneckModule, LoraAdapter, LoraModule, LoraTarget } from "../../lib/onnx/adapters/index.ts";

function randoms(rng: Rng, n: number, bound: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * rng.nextFloat() - 1) * bound;
  return out;
}

function bnModule(rng: Rng, H: number, d: number, bound: number): BottleneckModule {
  return { down: randoms(rng, d * H, bound), downBias: randoms(rng, d, bound), up: randoms(rng, H * d, bound), upBias: randoms(rng, H, bound) };
}

export function randomBottleneck(seed: string, method: BottleneckAdapter["method"], activation: BottleneckActivation, H: number, d: number, layers: number, scaling = 1, bound = 0.4): BottleneckAdapter {
  const rng = new Rng(seed);
  return {
    name: seed,
    method,
    activation,
    scaling,
    layers: Array.from({ length: layers }, () => ({ ffn: bnModule(rng, H, d, bound), ...(method === "double_seq_bn" ? { attention: bnModule(rng, H, d, bound) } : {}) })),
  };
}

export function randomLora(seed: string, targets: LoraTarget[], H: number, rank: number, alpha: number, layers: number, bound = 0.3): LoraAdapter {
  const rng = new Rng(seed);
  return {
    name: seed,
    method: "lora",
    rank,
    scaling: alpha / rank,
    layers: Array.from({ length: layers }, () => Object.fromEntries(targets.map((t) => [t, { A: randoms(rng, rank * H, bound), B: randoms(rng, H * rank, bound) } satisfies LoraModule]))),
  };
}

/** Σ λ_k Φ_k over every parameter (AdapterHub `average_adapter`, "linear"); adapters of one config. */
export function averageParameters<T extends Adapter>(adapters: T[], lambdas: number[]): T {
  const mix = (arrays: Float32Array[]) => {
    const out = new Float32Array(arrays[0].length);
    arrays.forEach((a, k) => a.forEach((v, i) => (out[i] += lambdas[k] * v)));
    return out;
  };
  const first = adapters[0];
  const layers = first.layers.map((_, l) => {
    const layer = first.layers[l] as Record<string, Record<string, Float32Array>> | undefined;
    if (!layer) return undefined;
    return Object.fromEntries(Object.keys(layer).map((site) => [site, Object.fromEntries(Object.keys(layer[site]).map((p) => [p, mix(adapters.map((a) => (a.layers[l] as Record<string, Record<string, Float32Array>>)[site][p]))]))]));
  });
  return { ...first, name: `avg(${adapters.map((a) => a.name).join(",")})`, layers } as T;
}

// ---------------------------------------------------------------------------------------------
// The naive reference graph.

class Splicer {
  private n = 0;
  readonly after = new Map<NodeProto, NodeProto[]>();
  constructor(readonly model: ModelProto) {}

  name(hint: string) {
    return `ref/${hint}_${this.n++}`;
  }
  constant(values: Float32Array, dims: number[]): string {
    const name = this.name("const");
    this.model.graph.initializer.push(floatTensor(name, dims, values));
    return name;
  }
  op(into: NodeProto[], op: string, inputs: string[], attrs = [] as ReturnType<typeof intsAttr>[]): string {
    const out = this.name(op);
    into.push(makeNode(op, inputs, [out], attrs, out));
    return out;
  }
  producer(t: string): NodeProto {
    const p = this.model.graph.node.find((n) => n.output.includes(t));
    if (!p) throw new Error(`reference: no producer of ${t}`);
    return p;
  }
  consumers(t: string): NodeProto[] {
    return this.model.graph.node.filter((n) => n.input.includes(t));
  }
  /** x·Wᵀ for a PyTorch Linear weight W [out, in]. */
  linearT(into: NodeProto[], x: string, W: Float32Array, out: number, inF: number): string {
    return this.op(into, "MatMul", [x, this.op(into, "Transpose", [this.constant(W, [out, inF])], [intsAttr("perm", [1, 0])])]);
  }
  act(into: NodeProto[], x: string, act: BottleneckActivation): string {
    if (act === "relu") return this.op(into, "Relu", [x]);
    if (act === "swish" || act === "silu") return this.op(into, "Mul", [x, this.op(into, "Sigmoid", [x])]);
    throw new Error(`reference: activation ${act} not written`);
  }
  /** f(v) = s·(W_u·act(W_d·v + b_d) + b_u). */
  bottleneck(into: NodeProto[], v: string, m: BottleneckModule, H: number, act: BottleneckActivation, s: number): string {
    const d = m.downBias.length;
    const z = this.act(into, this.op(into, "Add", [this.linearT(into, v, m.down, d, H), this.constant(m.downBias, [d])]), act);
    const u = this.op(into, "Add", [this.linearT(into, z, m.up, H, d), this.constant(m.upBias, [H])]);
    return this.op(into, "Mul", [u, this.constant(Float32Array.of(s), [])]);
  }
  /** Points every consumer (and graph output) of `from` at `to`, except `except`. */
  rewire(from: string, to: string, except: Set<NodeProto>) {
    for (const n of this.model.graph.node) if (!except.has(n)) n.input = n.input.map((i) => (i === from ? to : i));
    for (const o of this.model.graph.output) if (o.name === from) {
      // Keep the graph output name: route through an Identity.
      const id = makeNode("Identity", [to], [from + "/ref_out"]);
      this.model.graph.node.push(id);
      o.name = from + "/ref_out";
    }
  }
}

/** Outputs renamed by the reference (graph output `x` becomes `x/ref_out`). */
export const referenceOutputName = (model: ModelProto, name: string) => (model.graph.output.some((o) => o.name === `${name}/ref_out`) ? `${name}/ref_out` : name);

/**
 * The base fixture model with `adapter` spliced in directly. `prefix` is the parameter-name prefix of the
 * family ("" for BERT, "roberta." for RoBERTa).
 */
export function naiveAdapterModel(base: ModelProto, adapter: Adapter, prefix: string, H: number): ModelProto {
  const model: ModelProto = structuredClone(base);
  const s = new Splicer(model);
  const layers = adapter.layers.length;
  for (let l = 0; l < layers; l++) {
    const p = `${prefix}encoder.layer.${l}`;
    const denseOut = (weight: string) => {
      const mm = model.graph.node.find((n) => n.opType === "MatMul" && n.input[1] === weight);
      if (!mm) throw new Error(`reference: no MatMul on ${weight}`);
      const bias = s.consumers(mm.output[0]).find((n) => n.opType === "Add")!;
      return { x: mm.input[0], y: bias.output[0], node: bias };
    };
    if (adapter.method === "lora") {
      for (const [target, m] of Object.entries(adapter.layers[l] ?? {}) as [LoraTarget, LoraModule][]) {
        const { x, y, node } = denseOut(`${p}.attention.self.${target}.weight`);
        const into: NodeProto[] = [];
        const r = adapter.rank;
        const xa = s.linearT(into, x, m.A, r, H);
        const delta = s.op(into, "Mul", [s.linearT(into, xa, m.B, H, r), s.constant(Float32Array.of(adapter.scaling), [])]);
        const sum = s.op(into, "Add", [y, delta]);
        s.rewire(y, sum, new Set(into));
        s.after.set(node, into);
      }
      continue;
    }
    for (const [site, sub] of [["attention", "attention.output"], ["ffn", "output"]] as const) {
      const m = adapter.layers[l]?.[site];
      if (!m) continue;
      const { y: h } = denseOut(`${p}.${sub}.dense.weight`);
      const residualAdd = s.consumers(h).find((n) => n.opType === "Add")!;
      const ln = s.consumers(residualAdd.output[0]).find((n) => n.opType === "LayerNormalization")!;
      if (!ln || ln.input[1] !== `${p}.${sub}.LayerNorm.weight`) throw new Error(`reference: no LayerNorm for ${p}.${sub}`);
      const scale = adapter.scaling ?? 1;
      if (adapter.method === "double_seq_bn") {
        // LN0(h + r + f(h))
        const into: NodeProto[] = [];
        const f = s.bottleneck(into, h, m, H, adapter.activation, scale);
        residualAdd.input = residualAdd.input.map((i) => (i === h ? s.op(into, "Add", [h, f]) : i));
        s.after.set(s.producer(h), into);
      } else {
        // LN0(h + r + f(LN0(h + r)))
        const into: NodeProto[] = [];
        const f = s.bottleneck(into, ln.output[0], m, H, adapter.activation, scale);
        const again = s.op(into, "Add", [residualAdd.output[0], f]);
        const out = s.name("LayerNorm_again");
        const ln2 = { ...ln, name: out, input: [again, ln.input[1], ln.input[2]], output: [out] };
        into.push(ln2);
        s.rewire(ln.output[0], out, new Set(into));
        s.after.set(ln, into);
      }
    }
  }
  const nodes: NodeProto[] = [];
  for (const n of model.graph.node) nodes.push(n, ...(s.after.get(n) ?? []));
  model.graph.node = nodes;
  return model;
}
