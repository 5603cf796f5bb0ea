/**
 * An independent float64 BERT forward pass for one unpadded sequence, written from the model's
 * definition and reading the weights from the .onnx file (the same maths as the reference in
 * test/unit/fixtures.test.ts, extended to return every layer's attention probabilities and the
 * hidden states after the embeddings and after each layer, as Hugging Face returns them).
 */
import { DataType, tensorFloats, type ModelProto } from "../../lib/onnx/graph-io.ts";

export type Weights = Map<string, { dims: number[]; data: Float64Array }>;
export type Mat = number[][];

export interface BertConfig { hidden_size: number; num_attention_heads: number; num_hidden_layers: number; layer_norm_eps: number }

export interface BertTrace {
  /** num_layers + 1 matrices [tokens][hidden]. */
  hiddenStates: Mat[];
  /** num_layers arrays [heads][tokens][tokens]. */
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

/** y = x W + b for each row, with W stored [in, out]. */
function linear(w: Weights, name: string, x: Mat): Mat {
  const W = weight(w, `${name}.weight`), b = weight(w, `${name}.bias`);
  const [k, n] = W.dims;
  return x.map((row) => {
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

/** The embeddings before their LayerNorm: word + position + token type rows. */
export function embeddingSum(w: Weights, hidden: number, ids: number[], types: number[]): Mat {
  const row = (name: string, i: number) => Array.from(weight(w, `embeddings.${name}.weight`).data.subarray(i * hidden, (i + 1) * hidden));
  return ids.map((id, pos) => {
    const a = row("word_embeddings", id), p = row("position_embeddings", pos), s = row("token_type_embeddings", types[pos]);
    return a.map((v, i) => v + p[i] + s[i]);
  });
}

export function bertTrace(w: Weights, cfg: BertConfig, ids: number[], types: number[]): BertTrace {
  const H = cfg.hidden_size, NH = cfg.num_attention_heads, D = H / NH;
  let x = layerNorm(w, "embeddings.LayerNorm", embeddingSum(w, H, ids, types), cfg.layer_norm_eps);
  const trace: BertTrace = { hiddenStates: [x], attentions: [] };
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `encoder.layer.${l}`;
    const q = linear(w, `${p}.attention.self.query`, x), k = linear(w, `${p}.attention.self.key`, x), v = linear(w, `${p}.attention.self.value`, x);
    const context: Mat = x.map(() => new Array(H).fill(0));
    const probs: number[][][] = [];
    for (let h = 0; h < NH; h++) {
      probs.push(
        x.map((_, i) => {
          const scores = x.map((_, j) => {
            let s = 0;
            for (let d = 0; d < D; d++) s += q[i][h * D + d] * k[j][h * D + d];
            return s / Math.sqrt(D);
          });
          const max = Math.max(...scores);
          const e = scores.map((s) => Math.exp(s - max));
          const z = e.reduce((a, b) => a + b, 0);
          const row = e.map((v) => v / z);
          for (let j = 0; j < x.length; j++) for (let d = 0; d < D; d++) context[i][h * D + d] += row[j] * v[j][h * D + d];
          return row;
        }),
      );
    }
    trace.attentions.push(probs);
    const attn = linear(w, `${p}.attention.output.dense`, context).map((r, i) => r.map((val, j) => val + x[i][j]));
    const a = layerNorm(w, `${p}.attention.output.LayerNorm`, attn, cfg.layer_norm_eps);
    const inner = linear(w, `${p}.intermediate.dense`, a).map((r) => r.map((val) => val * 0.5 * (1 + erf(val / Math.SQRT2))));
    const out = linear(w, `${p}.output.dense`, inner).map((r, i) => r.map((val, j) => val + a[i][j]));
    x = layerNorm(w, `${p}.output.LayerNorm`, out, cfg.layer_norm_eps);
    trace.hiddenStates.push(x);
  }
  return trace;
}
