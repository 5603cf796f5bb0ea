/**
 * An independent float64 forward pass of the BERT, RoBERTa and DistilBERT encoders (and their
 * heads) for one unpadded sequence, written from the models' definitions in Hugging Face
 * transformers and reading the weights back from the .onnx file. Tests compare ONNX Runtime
 * against it, so it shares no code with the fixture generator or lib/onnx.
 *
 * The families differ only in names and a few details, kept in `layout()`: RoBERTa prefixes its
 * weights with `roberta.`, has one token type and counts positions from the input ids
 * (padding_idx + 1, + 2, ... over non-pad ids); DistilBERT has no token types and no pooler, and
 * its own layer names and LayerNorm eps (1e-12, not in its config).
 */
import { DataType, tensorFloats, type ModelProto } from "../../lib/onnx/graph-io.ts";
import type { FixtureFamily, FixtureHead } from "../../lib/fixtures/types.ts";

export type Weights = Map<string, { dims: number[]; data: Float64Array }>;
export type Mat = number[][];
export type Family = FixtureFamily;

/** The config.json fields a BERT forward pass reads (RoBERTa adds pad_token_id; DistilBERT uses n_heads / n_layers). */
export interface BertConfig { hidden_size: number; num_attention_heads: number; num_hidden_layers: number; layer_norm_eps: number }

export interface EncoderTrace {
  /** num_layers + 1 matrices [tokens][hidden]: after the embeddings, then after each layer. */
  hiddenStates: Mat[];
  /** num_layers arrays [heads][tokens][tokens] of attention probabilities. */
  attentions: number[][][][];
}

export function readWeights(model: ModelProto): Weights {
  const w: Weights = new Map();
  for (const t of model.graph.initializer) {
    if (t.dataType === DataType.FLOAT && !t.name!.startsWith("const_")) w.set(t.name!, { dims: t.dims.map(Number), data: Float64Array.from(tensorFloats(t)) });
  }
  return w;
}

function weight(w: Weights, name: string) {
  const t = w.get(name);
  if (!t) throw new Error(`missing weight ${name}`);
  return t;
}

/** Row `i` of a [rows, width] table. */
function rowOf(w: Weights, name: string, i: number): number[] {
  const t = weight(w, name);
  return Array.from(t.data.subarray(i * t.dims[1], (i + 1) * t.dims[1]));
}

/** y = x W + b for each row, with W stored [in, out]. */
export function linear(w: Weights, name: string, x: Mat): Mat {
  const W = weight(w, `${name}.weight`), b = weight(w, `${name}.bias`);
  const [k, n] = W.dims;
  return x.map((row) => {
    if (row.length !== k) throw new Error(`${name}: input width ${row.length}, weight rows ${k}`);
    const out = Array.from(b.data);
    for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) out[j] += row[i] * W.data[i * n + j];
    return out;
  });
}

export function layerNorm(w: Weights, name: string, x: Mat, eps: number): Mat {
  const g = weight(w, `${name}.weight`).data, b = weight(w, `${name}.bias`).data;
  return x.map((row) => {
    const mean = row.reduce((a, v) => a + v, 0) / row.length;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / row.length;
    return row.map((v, i) => ((v - mean) / Math.sqrt(variance + eps)) * g[i] + b[i]);
  });
}

/** erf to ~1e-14: Maclaurin series near 0, continued fraction for erfc further out. */
function erf(x: number): number {
  const t = Math.abs(x);
  let r: number;
  if (t < 3) {
    let term = t, sum = t;
    for (let n = 1; n < 80; n++) {
      term *= (-t * t) / n;
      sum += term / (2 * n + 1);
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    let f = 0;
    for (let n = 80; n >= 1; n--) f = n / 2 / (t + f);
    r = 1 - Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + f);
  }
  return x < 0 ? -r : r;
}

const gelu = (m: Mat): Mat => m.map((r) => r.map((v) => v * 0.5 * (1 + erf(v / Math.SQRT2))));
const add = (a: Mat, b: Mat): Mat => a.map((r, i) => r.map((v, j) => v + b[i][j]));

/** RoBERTa's create_position_ids_from_input_ids: pad ids get padding_idx, the others padding_idx + their count of non-pad ids so far. */
export function robertaPositionIds(ids: number[], pad: number): number[] {
  let seen = 0;
  return ids.map((id) => (id === pad ? pad : pad + ++seen));
}

/** What differs between the families: weight names, config keys, positions, token types, eps. */
interface Layout {
  embeddings: string;
  heads: number;
  layers: number;
  eps: number;
  positions(ids: number[]): number[];
  /** The token type embedding table, or undefined (DistilBERT has none). */
  tokenTypes?: string;
  /** Weight names of layer `l`, in order: query, key, value, attention output, its LayerNorm, FFN in, FFN out, output LayerNorm. */
  layer(l: number): [string, string, string, string, string, string, string, string];
}

function layout(family: Family, config: object): Layout {
  const cfg = config as Record<string, unknown>;
  const num = (key: string) => {
    const v = cfg[key];
    if (typeof v !== "number") throw new Error(`config.${key} is not a number`);
    return v;
  };
  const bertLayer = (prefix: string) => (l: number) => {
    const p = `${prefix}encoder.layer.${l}.`;
    return [`${p}attention.self.query`, `${p}attention.self.key`, `${p}attention.self.value`, `${p}attention.output.dense`,
      `${p}attention.output.LayerNorm`, `${p}intermediate.dense`, `${p}output.dense`, `${p}output.LayerNorm`] as ReturnType<Layout["layer"]>;
  };
  const counted = (ids: number[]) => ids.map((_, t) => t);
  switch (family) {
    case "bert":
      return { embeddings: "embeddings", heads: num("num_attention_heads"), layers: num("num_hidden_layers"), eps: num("layer_norm_eps"), positions: counted, tokenTypes: "embeddings.token_type_embeddings.weight", layer: bertLayer("") };
    case "roberta": {
      const pad = num("pad_token_id");
      return { embeddings: "roberta.embeddings", heads: num("num_attention_heads"), layers: num("num_hidden_layers"), eps: num("layer_norm_eps"), positions: (ids) => robertaPositionIds(ids, pad), tokenTypes: "roberta.embeddings.token_type_embeddings.weight", layer: bertLayer("roberta.") };
    }
    case "distilbert":
      return {
        embeddings: "distilbert.embeddings", heads: num("n_heads"), layers: num("n_layers"), eps: 1e-12, positions: counted,
        layer: (l) => {
          const p = `distilbert.transformer.layer.${l}.`;
          return [`${p}attention.q_lin`, `${p}attention.k_lin`, `${p}attention.v_lin`, `${p}attention.out_lin`, `${p}sa_layer_norm`, `${p}ffn.lin1`, `${p}ffn.lin2`, `${p}output_layer_norm`];
        },
      };
  }
}

/** softmax(q kᵀ / √d) v per head; returns the context and each head's probabilities [heads][tokens][tokens]. */
function selfAttention(q: Mat, k: Mat, v: Mat, heads: number): { context: Mat; probs: number[][][] } {
  const H = q[0].length, D = H / heads;
  const context: Mat = q.map(() => new Array(H).fill(0));
  const probs: number[][][] = [];
  for (let h = 0; h < heads; h++) {
    probs.push(q.map((qi, i) => {
      const scores = k.map((kj) => {
        let s = 0;
        for (let d = 0; d < D; d++) s += qi[h * D + d] * kj[h * D + d];
        return s / Math.sqrt(D);
      });
      const max = Math.max(...scores);
      const e = scores.map((s) => Math.exp(s - max));
      const z = e.reduce((a, b) => a + b, 0);
      const row = e.map((x) => x / z);
      for (let j = 0; j < k.length; j++) for (let d = 0; d < D; d++) context[i][h * D + d] += row[j] * v[j][h * D + d];
      return row;
    }));
  }
  return { context, probs };
}

/**
 * The encoder's hidden states and attention probabilities for one unpadded sequence. `types` are
 * the token type ids (BERT; absent means all 0; DistilBERT ignores them).
 */
export function encoderTrace(w: Weights, family: Family, config: object, ids: number[], types?: number[]): EncoderTrace {
  const L = layout(family, config);
  const positions = L.positions(ids);
  let x = layerNorm(w, `${L.embeddings}.LayerNorm`, ids.map((id, t) => {
    const word = rowOf(w, `${L.embeddings}.word_embeddings.weight`, id), pos = rowOf(w, `${L.embeddings}.position_embeddings.weight`, positions[t]);
    const type = L.tokenTypes ? rowOf(w, L.tokenTypes, types?.[t] ?? 0) : undefined;
    return word.map((v, i) => v + pos[i] + (type ? type[i] : 0));
  }), L.eps);
  const trace: EncoderTrace = { hiddenStates: [x], attentions: [] };
  for (let l = 0; l < L.layers; l++) {
    const [query, key, value, attnOut, attnNorm, ffnIn, ffnOut, outNorm] = L.layer(l);
    const { context, probs } = selfAttention(linear(w, query, x), linear(w, key, x), linear(w, value, x), L.heads);
    trace.attentions.push(probs);
    const a = layerNorm(w, attnNorm, add(linear(w, attnOut, context), x), L.eps);
    x = layerNorm(w, outNorm, add(linear(w, ffnOut, gelu(linear(w, ffnIn, a))), a), L.eps);
    trace.hiddenStates.push(x);
  }
  return trace;
}

/** A head's outputs from the last hidden state [tokens][hidden], flattened per output as the ONNX graphs name them. */
export function headOutputs(w: Weights, family: Family, head: FixtureHead, hidden: Mat): Record<string, number[]> {
  const first = [hidden[0]];
  switch (head) {
    case "base":
      if (family === "distilbert") return { last_hidden_state: hidden.flat() };
      return { last_hidden_state: hidden.flat(), pooler_output: linear(w, `${family === "roberta" ? "roberta." : ""}pooler.dense`, first)[0].map(Math.tanh) };
    case "sequence-classification":
      if (family === "bert") return { logits: linear(w, "classifier", linear(w, "pooler.dense", first).map((r) => r.map(Math.tanh)))[0] };
      if (family === "roberta") return { logits: linear(w, "classifier.out_proj", linear(w, "classifier.dense", first).map((r) => r.map(Math.tanh)))[0] };
      return { logits: linear(w, "classifier", linear(w, "pre_classifier", first).map((r) => r.map((v) => Math.max(0, v))))[0] };
    case "token-classification":
      return { logits: linear(w, "classifier", hidden).flat() };
    case "question-answering": {
      const qa = linear(w, "qa_outputs", hidden);
      return { start_logits: qa.map((r) => r[0]), end_logits: qa.map((r) => r[1]) };
    }
  }
}

/** The whole model for one unpadded sequence: the head's outputs, plus the encoder's hidden states and attentions. */
export function referenceForward(w: Weights, family: Family, head: FixtureHead, config: object, ids: number[], types?: number[]): EncoderTrace & { outputs: Record<string, number[]> } {
  const trace = encoderTrace(w, family, config, ids, types);
  return { ...trace, outputs: headOutputs(w, family, head, trace.hiddenStates[trace.hiddenStates.length - 1]) };
}
