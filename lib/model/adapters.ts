/**
 * A model's served adapters (SPEC §9, issue #16): the AdapterHub folders of its models-file entry read
 * with lib/adapters, turned into the adapter bank's input (lib/onnx/adapters), the per-row
 * `adapter_weights` of a batch, and the heads that replace the base model's outputs.
 *
 * Heads run in JavaScript on the adapter graph's `last_hidden_state` (or `pooler_output` for a
 * pooler head): layers−1 × [Linear(H, H), act] → Linear(H, n), per item on the first token
 * (classification) or on every token (tagging, QA). Cost per item: L·H² + n·H multiply-adds for
 * classification, T times that for tagging and QA (bert-base, T = 384: about 0.5 M for a 2-label QA head,
 * negligible next to the encoder's ~30 G).
 */
import { loadAdapterFolder, averageHeads, AdapterError, type LoadedAdapter, type PredictionHead } from "../adapters/index.ts";
import type { Adapter, BottleneckAdapter, BottleneckModule as BankModule, LoraAdapter, LoraModule, LoraTarget } from "../onnx/adapters/index.ts";
import type { AdapterEntry } from "../config/model-settings.ts";
import type { AdapterCatalog, AdapterChoice, AdapterHeadType } from "../inference/adapters.ts";
import { float32, type NdArray } from "../tensor.ts";
import { replyOfWorker } from "../onnx/worker-threads.ts";
import type { AdapterGraphReply, AdapterGraphRequest } from "./adapter-graph-worker.ts";

/** What the gateway learns of each adapter from the model's metadata (to refuse requests before they run). */
export interface AdapterInfo {
  head: AdapterHeadType | null;
  /** Equal strings: the adapters may be averaged (same method config; same head kind and labels). */
  config: string;
  head_signature: string | null;
}

export interface ServedAdapter {
  name: string;
  loaded: LoadedAdapter;
  bank: Adapter;
}

/** Reads every adapter folder of the entry (AdapterErrors name the adapter). */
export async function loadServedAdapters(entries: readonly AdapterEntry[], hiddenSize: number | undefined): Promise<ServedAdapter[]> {
  return Promise.all(entries.map(async (entry) => {
    try {
      const loaded = await loadAdapterFolder(entry.path, { hiddenSize });
      return { name: entry.name, loaded, bank: toBankAdapter(entry.name, loaded) };
    } catch (err) {
      throw new AdapterError(`adapter ${entry.name} (${entry.path}): ${(err as Error).message}`, (err as AdapterError).key);
    }
  }));
}

const BANK_ACTIVATIONS: Record<string, BottleneckAdapter["activation"] | undefined> = { relu: "relu", silu: "silu", gelu: "gelu", gelu_new: "gelu_new", tanh: "tanh", sigmoid: "sigmoid", linear: "linear" };

/** The bank's view of an adapter; configurations the bank does not implement are refused with the reason. */
export function toBankAdapter(name: string, a: LoadedAdapter): Adapter {
  const c = a.meta.config;
  const refuse = (why: string): never => {
    throw new AdapterError(`not supported on ONNX yet: ${why}`);
  };
  if (c.architecture === "lora") {
    if (a.weights.kind !== "lora") return refuse("LoRA config with bottleneck weights");
    const layers = a.weights.layers.map((layer) => {
      if (!layer) return undefined;
      if (layer.intermediate || layer.output) refuse("LoRA on the intermediate or output dense (only query, key, value)");
      const out: Partial<Record<LoraTarget, LoraModule>> = {};
      for (const t of ["query", "key", "value"] as const) {
        const pair = layer[t];
        if (pair) out[t] = { A: pair.A.data, B: pair.B.data };
      }
      return out;
    });
    return { name, method: "lora", scaling: a.weights.scaling, rank: c.r, layers } satisfies LoraAdapter;
  }
  if (a.weights.kind !== "bottleneck") return refuse("bottleneck config with LoRA weights");
  if (c.lnBefore || c.lnAfter) refuse("ln_before / ln_after");
  if (typeof c.scaling !== "number") refuse(`scaling "${c.scaling}" (only a fixed factor)`);
  if (c.residualBeforeLn !== true || c.adapterResidualBeforeLn || !c.originalLnAfter) refuse("residual placements other than the Pfeiffer/Houlsby presets");
  const activation = BANK_ACTIVATIONS[c.nonLinearity] ?? refuse(`non_linearity ${c.nonLinearity}`);
  let method: BottleneckAdapter["method"];
  if (!c.mhAdapter && c.outputAdapter && c.originalLnBefore) method = "seq_bn";
  else if (c.mhAdapter && c.outputAdapter && !c.originalLnBefore) method = "double_seq_bn";
  else return refuse("bottleneck placements other than Pfeiffer (seq_bn) and Houlsby (double_seq_bn)");
  const module = (m: NonNullable<NonNullable<typeof a.weights.layers[number]>["output"]>): BankModule => {
    const d = m.down.weight.shape[0], H = m.up.weight.shape[0];
    return { down: m.down.weight.data, downBias: m.down.bias?.data ?? new Float32Array(d), up: m.up.weight.data, upBias: m.up.bias?.data ?? new Float32Array(H) };
  };
  const layers = a.weights.layers.map((layer) => {
    if (!layer) return undefined;
    if (method === "seq_bn" && layer.attention) refuse("an attention adapter in a Pfeiffer config");
    return { ...(layer.attention ? { attention: module(layer.attention) } : {}), ...(layer.output ? { ffn: module(layer.output) } : {}) };
  });
  return { name, method, activation, scaling: c.scaling as number, layers } satisfies BottleneckAdapter;
}

export function adapterInfo(a: ServedAdapter): AdapterInfo {
  const h = a.loaded.head;
  return {
    head: h?.type ?? null,
    config: JSON.stringify(a.loaded.meta.config),
    head_signature: h ? JSON.stringify([h.type, h.numLabels, h.activation, h.usePooler, h.id2label, h.layers.length]) : null,
  };
}

/** The served adapters at run time: bank columns, per-row weights, heads (averaged heads cached by choice). */
export class AdapterSet implements AdapterCatalog {
  readonly names: string[];
  private readonly byName: Map<string, ServedAdapter>;
  private readonly heads = new Map<string, PredictionHead | null>();

  constructor(readonly adapters: readonly ServedAdapter[]) {
    this.names = adapters.map((a) => a.name);
    this.byName = new Map(adapters.map((a) => [a.name, a]));
  }

  get info(): Record<string, AdapterInfo> {
    return Object.fromEntries(this.adapters.map((a) => [a.name, adapterInfo(a)]));
  }

  /** The adapter_weights row of a choice (bank order = this.names); zeros for the base model. */
  row(choice: AdapterChoice | undefined, into: Float32Array, offset: number): void {
    if (!choice) return;
    choice.names.forEach((name, k) => {
      const column = this.names.indexOf(name);
      if (column < 0) throw new AdapterError(`unknown adapter ${name}; this model serves ${this.names.join(", ")}`);
      into[offset + column] += choice.weights[k];
    });
  }

  /** The head a choice uses: the adapter's, or AdapterHub's linear average of the heads (undefined: none). */
  headOf(choice: AdapterChoice): PredictionHead | undefined {
    const key = JSON.stringify(choice);
    if (!this.heads.has(key)) {
      const heads = choice.names.map((n) => this.byName.get(n)?.loaded.head);
      const head = heads.every((h): h is PredictionHead => h !== undefined) ? (heads.length === 1 ? heads[0] : averageHeads(heads, [...choice.weights])) : null;
      this.heads.set(key, head);
    }
    return this.heads.get(key) ?? undefined;
  }

  labelsOf(choice: AdapterChoice): Record<string, string> | undefined {
    const head = this.headOf(choice);
    return head?.id2label ? Object.fromEntries(head.id2label.map((l, i) => [String(i), l])) : undefined;
  }
}

/** The graph outputs a head reads. */
export const headInputs = (head: PredictionHead): string[] => [head.usePooler ? "pooler_output" : "last_hidden_state"];

/** The head's outputs for one item from its (unpadded) encoder outputs: `logits`, or `start_logits` and `end_logits`. */
export function applyHead(head: PredictionHead, item: Record<string, NdArray>): Record<string, NdArray> {
  const hidden = item.last_hidden_state;
  const H = head.layers[0].weight.shape[1];
  if (head.type === "classification") {
    const x = head.usePooler ? (item.pooler_output.data as Float32Array).subarray(0, H) : (hidden.data as Float32Array).subarray(0, H);
    return { logits: float32([head.numLabels], dense(head, x)) };
  }
  const T = hidden.shape[0];
  const data = hidden.data as Float32Array;
  const out = new Float32Array(T * head.numLabels);
  for (let t = 0; t < T; t++) out.set(dense(head, data.subarray(t * H, (t + 1) * H)), t * head.numLabels);
  if (head.type === "tagging") return { logits: float32([T, head.numLabels], out) };
  const start = new Float32Array(T), end = new Float32Array(T);
  for (let t = 0; t < T; t++) {
    start[t] = out[2 * t];
    end[t] = out[2 * t + 1];
  }
  return { start_logits: float32([T], start), end_logits: float32([T], end) };
}

/** Whether a head's Jacobian depends on its input (a non-linear activation between layers): its cotangent then needs the encoder's forward values. */
export const headNeedsForward = (head: PredictionHead): boolean => head.layers.length > 1 && head.activation !== "linear";

/** The encoder output a head reads, i.e. the gradient target its cotangent lands on. */
export const headTarget = (head: PredictionHead): "pooler_output" | "last_hidden_state" => (head.usePooler ? "pooler_output" : "last_hidden_state");

/**
 * The head's vector-Jacobian product (explanations and HotFlip on an adapter, issue #16): the cotangent on the encoder
 * output the head reads (`last_hidden_state` tokens × H, or `pooler_output` H) from cotangents on the head's outputs
 * (`logits`, or `start_logits` and `end_logits`), exactly, in float64. `input` is the head's input (the row's
 * unpadded encoder output) at the row's point; needed only when headNeedsForward(head).
 */
export function headCotangent(head: PredictionHead, cotangents: Readonly<Record<string, Float32Array>>, tokens: number, input?: Float32Array): Float32Array {
  const H = head.layers[0].weight.shape[1];
  const n = head.numLabels;
  if (headNeedsForward(head) && !input) throw new Error(`the cotangent of head ${head.name} needs its input`);
  if (head.type === "classification") {
    const g = cotangents.logits;
    if (!g || g.length !== n) throw new Error(`head ${head.name}: a classification head needs a logits cotangent of ${n} values`);
    const back = denseVjp(head, g, input?.subarray(0, H));
    const out = new Float32Array(head.usePooler ? H : tokens * H);
    out.set(back, 0); // the first token (or the pooler output)
    return out;
  }
  const perToken = (t: number): Float64Array | undefined => {
    if (head.type === "tagging") {
      const g = cotangents.logits;
      if (!g || g.length !== tokens * n) throw new Error(`head ${head.name}: a tagging head needs a logits cotangent of ${tokens}×${n} values`);
      return Float64Array.from(g.subarray(t * n, (t + 1) * n));
    }
    const s = cotangents.start_logits, e = cotangents.end_logits;
    if (!s || !e || s.length !== tokens || e.length !== tokens) throw new Error(`head ${head.name}: a QA head needs start_logits and end_logits cotangents of ${tokens} values`);
    return Float64Array.of(s[t], e[t]);
  };
  const out = new Float32Array(tokens * H);
  for (let t = 0; t < tokens; t++) {
    const g = perToken(t)!;
    if (g.every((v) => v === 0)) continue;
    out.set(denseVjp(head, g, input?.subarray(t * H, (t + 1) * H)), t * H);
  }
  return out;
}

/** Backward through layers−1 × [Linear, act] → Linear: Wᵀ per layer, act′ at the forward pre-activations (recomputed from `input`). */
function denseVjp(head: PredictionHead, cotangent: ArrayLike<number>, input: Float32Array | undefined): Float64Array {
  const L = head.layers.length;
  // Forward pre-activations z_i of the hidden layers (only when the Jacobian depends on them).
  const pre: Float64Array[] = [];
  if (headNeedsForward(head)) {
    let x: Float64Array = Float64Array.from(input!);
    for (let i = 0; i < L - 1; i++) {
      const [out, inp] = head.layers[i].weight.shape;
      const w = head.layers[i].weight.data, b = head.layers[i].bias?.data;
      const z = new Float64Array(out);
      for (let o = 0; o < out; o++) {
        let s = b ? b[o] : 0;
        for (let k = 0; k < inp; k++) s += w[o * inp + k] * x[k];
        z[o] = s;
      }
      pre.push(z);
      x = z.map((v) => activate(head.activation, v));
    }
  }
  let g: Float64Array = Float64Array.from(cotangent);
  for (let i = L - 1; i >= 0; i--) {
    const [out, inp] = head.layers[i].weight.shape;
    const w = head.layers[i].weight.data;
    const gx = new Float64Array(inp);
    for (let o = 0; o < out; o++) {
      const go = g[o];
      if (go === 0) continue;
      for (let k = 0; k < inp; k++) gx[k] += w[o * inp + k] * go;
    }
    if (i > 0) {
      const z = pre[i - 1];
      for (let k = 0; k < inp; k++) gx[k] *= z ? activationSlope(head.activation, z[k]) : 1;
    }
    g = gx;
  }
  return g;
}

/** d act(x) / dx. */
function activationSlope(act: PredictionHead["activation"], x: number): number {
  switch (act) {
    case "tanh": return 1 - Math.tanh(x) ** 2;
    case "relu": return x > 0 ? 1 : 0;
    case "gelu": return 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
    case "gelu_new": {
      const c = Math.sqrt(2 / Math.PI), u = c * (x + 0.044715 * x ** 3), t = Math.tanh(u);
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
    }
    case "silu": {
      const s = 1 / (1 + Math.exp(-x));
      return s * (1 + x * (1 - s));
    }
    case "sigmoid": {
      const s = 1 / (1 + Math.exp(-x));
      return s * (1 - s);
    }
    case "linear": return 1;
  }
}

/** layers−1 × [Linear, act] → Linear, in float64. */
function dense(head: PredictionHead, input: Float32Array): Float64Array {
  let x: Float64Array = Float64Array.from(input);
  head.layers.forEach((layer, i) => {
    const [out, inp] = layer.weight.shape;
    const w = layer.weight.data, b = layer.bias?.data;
    const y = new Float64Array(out);
    for (let o = 0; o < out; o++) {
      let s = b ? b[o] : 0;
      for (let k = 0; k < inp; k++) s += w[o * inp + k] * x[k];
      y[o] = i < head.layers.length - 1 ? activate(head.activation, s) : s;
    }
    x = y;
  });
  return x;
}

function activate(act: PredictionHead["activation"], x: number): number {
  switch (act) {
    case "tanh": return Math.tanh(x);
    case "relu": return Math.max(0, x);
    case "gelu": return 0.5 * x * (1 + erf(x / Math.SQRT2));
    case "gelu_new": return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    case "silu": return x / (1 + Math.exp(-x));
    case "sigmoid": return 1 / (1 + Math.exp(-x));
    case "linear": return x;
  }
}

/** erf to ~1e-7 (Abramowitz & Stegun 7.1.26 is 1.5e-7; enough next to float32 hidden states). */
function erf(x: number): number {
  const s = Math.sign(x), a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}

/** Builds the adapter-capable graph of `modelPath` with these adapters in a short-lived worker thread and writes it to `outPath`. */
export async function buildAdapterGraphOffThread(modelPath: string, outPath: string, adapters: readonly ServedAdapter[]): Promise<{ adapterNames: string[] }> {
  const request: AdapterGraphRequest = { modelPath, outPath, adapters: adapters.map((a) => a.bank) };
  const reply = await replyOfWorker<AdapterGraphReply>(new URL("./adapter-graph-worker.ts", import.meta.url), request, "adapter graph");
  if (reply.kind === "failed") throw new AdapterError(`cannot build the adapter graph of ${modelPath}: ${reply.message}`);
  const expected = adapters.map((a) => a.name);
  if (reply.adapterNames.join("\u0000") !== expected.join("\u0000")) throw new Error(`adapter bank order ${reply.adapterNames.join(", ")} differs from ${expected.join(", ")}`);
  return { adapterNames: reply.adapterNames };
}
