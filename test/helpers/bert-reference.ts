/**
 * An independent float64 forward pass of BERT, written from the model's definition (not from
 * the graph builder), reading weights from the .onnx initializers by their Hugging Face names.
 */
import { readFileSync } from "node:fs";
import { decodeModel, tensorFloats } from "../../lib/onnx/graph-io.ts";

type Mat = number[][];

export function loadWeights(onnxPath: string): Map<string, { dims: number[]; data: Float32Array }> {
  const model = decodeModel(readFileSync(onnxPath));
  return new Map(model.graph.initializer.filter((t) => t.dataType === 1).map((t) => [t.name as string, { dims: t.dims.map(Number), data: tensorFloats(t) }]));
}

const matmul = (a: Mat, w: { dims: number[]; data: Float32Array }, b?: { data: Float32Array }): Mat => {
  const [k, n] = w.dims;
  return a.map((row) => Array.from({ length: n }, (_, j) => {
    let s = b ? b.data[j] : 0;
    for (let i = 0; i < k; i++) s += row[i] * w.data[i * n + j];
    return s;
  }));
};
const layerNorm = (x: Mat, g: Float32Array, b: Float32Array, eps: number): Mat =>
  x.map((row) => {
    const mean = row.reduce((a, v) => a + v, 0) / row.length;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / row.length;
    return row.map((v, i) => ((v - mean) / Math.sqrt(variance + eps)) * g[i] + b[i]);
  });
const erf = (x: number): number => {
  // Abramowitz-Stegun 7.1.26 is too coarse for 1e-4 after many layers: use a series / continued fraction.
  const t = Math.abs(x);
  if (t < 3) {
    let sum = t, term = t;
    for (let n = 1; n < 100; n++) {
      term *= (-t * t) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = 0;
  for (let n = 60; n >= 1; n--) f = (n / 2) / (t + f);
  return Math.sign(x) * (1 - Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + f));
};

export interface BertConfig {
  hidden_size: number;
  num_attention_heads: number;
  num_hidden_layers: number;
  layer_norm_eps: number;
}

/** Returns last hidden states [tokens][hidden] for one unpadded sequence. */
export function bertEncode(w: ReturnType<typeof loadWeights>, cfg: BertConfig, ids: number[], typeIds: number[]): Mat {
  const W = (name: string) => {
    const t = w.get(name);
    if (!t) throw new Error(`no weight ${name}`);
    return t;
  };
  const H = cfg.hidden_size;
  const row = (name: string, i: number) => Array.from(W(name).data.subarray(i * H, (i + 1) * H));
  let x: Mat = ids.map((id, t) => {
    const a = row("embeddings.word_embeddings.weight", id), p = row("embeddings.position_embeddings.weight", t), s = row("embeddings.token_type_embeddings.weight", typeIds[t]);
    return a.map((v, i) => v + p[i] + s[i]);
  });
  x = layerNorm(x, W("embeddings.LayerNorm.weight").data, W("embeddings.LayerNorm.bias").data, cfg.layer_norm_eps);
  const NH = cfg.num_attention_heads, D = H / NH;
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `encoder.layer.${l}`;
    const lin = (m: Mat, name: string) => matmul(m, W(`${name}.weight`), W(`${name}.bias`));
    const q = lin(x, `${p}.attention.self.query`), k = lin(x, `${p}.attention.self.key`), v = lin(x, `${p}.attention.self.value`);
    const ctx: Mat = x.map(() => new Array(H).fill(0));
    for (let h = 0; h < NH; h++) {
      for (let i = 0; i < x.length; i++) {
        const scores = x.map((_, j) => {
          let s = 0;
          for (let d = 0; d < D; d++) s += q[i][h * D + d] * k[j][h * D + d];
          return s / Math.sqrt(D);
        });
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j < x.length; j++) for (let d = 0; d < D; d++) ctx[i][h * D + d] += (e[j] / z) * v[j][h * D + d];
      }
    }
    const attnOut = lin(ctx, `${p}.attention.output.dense`).map((r, i) => r.map((val, j) => val + x[i][j]));
    const a = layerNorm(attnOut, W(`${p}.attention.output.LayerNorm.weight`).data, W(`${p}.attention.output.LayerNorm.bias`).data, cfg.layer_norm_eps);
    const inner = lin(a, `${p}.intermediate.dense`).map((r) => r.map((val) => 0.5 * val * (1 + erf(val / Math.SQRT2))));
    const out = lin(inner, `${p}.output.dense`).map((r, i) => r.map((val, j) => val + a[i][j]));
    x = layerNorm(out, W(`${p}.output.LayerNorm.weight`).data, W(`${p}.output.LayerNorm.bias`).data, cfg.layer_norm_eps);
  }
  return x;
}

export function denseRow(w: ReturnType<typeof loadWeights>, name: string, vec: number[]): number[] {
  return matmul([vec], w.get(`${name}.weight`)!, w.get(`${name}.bias`)!)[0];
}
