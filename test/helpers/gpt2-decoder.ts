/**
 * The GPT-2 fixture's ONNX graphs driven directly with onnxruntime-node (no server code): one
 * forward step in each layout, with or without a KV cache, and the generation golden
 * (test/goldens/generation/gpt2-tiny.json, written by tools/goldens/generation_decoder.py).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { GOLDEN_DIR } from "./goldens.ts";

export const GPT2_REGENERATE_COMMAND = "/usr/bin/python3 tools/goldens/generation_decoder.py";

export interface GenerationCase {
  name: string;
  prompts: string[];
  options: { max_new_tokens: number; num_beams?: number; length_penalty?: number; early_stopping?: boolean | "never"; num_return_sequences?: number; repetition_penalty?: number; no_repeat_ngram_size?: number; min_new_tokens?: number };
  prompt_ids: number[][];
  input_ids: number[][];
  attention_mask: number[][];
  sequences: number[][];
  generated_ids: number[][];
  finished_by_eos: boolean[];
  generated_texts: string[];
  sequences_scores?: number[];
  min_decision_margin: number;
  prefill_last_logits: { shape: number[]; data: number[] };
}

export interface GenerationGolden {
  fixture: string;
  model_sha256: string;
  eos_token_id: number;
  pad_token_id: number;
  cases: GenerationCase[];
}

export const loadGpt2Golden = async (): Promise<GenerationGolden> =>
  JSON.parse(await readFile(join(GOLDEN_DIR, "generation", "gpt2-tiny.json"), "utf8")) as GenerationGolden;

/** Which graphs one step runs: the single model.onnx, the legacy merged file, or the legacy pair. */
export type StepGraphs = "single" | "legacy-merged" | "legacy-split";

export type Cache = Record<string, ort.Tensor>;

export interface StepResult {
  /** [B, S, V] */
  logits: ort.Tensor;
  /** present.* renamed to past_key_values.*, ready for the next step. */
  cache: Cache;
}

const int64 = (rows: number[][]) => new ort.Tensor("int64", BigInt64Array.from(rows.flat(), (v) => BigInt(v)), [rows.length, rows[0]?.length ?? 0]);

/** HF's position ids: cumsum(mask) - 1, pads set to 1, the last `count` columns. */
export function positionIds(mask: number[][], count: number): number[][] {
  return mask.map((row) => {
    let seen = 0;
    const all = row.map((m) => (m ? seen++ : 1));
    return all.slice(all.length - count);
  });
}

export class Gpt2Runner {
  private constructor(
    private readonly graphs: StepGraphs,
    private readonly sessions: Record<string, ort.InferenceSession>,
    readonly numLayers: number,
    readonly numHeads: number,
    readonly headDim: number,
  ) {}

  static async open(folder: string, graphs: StepGraphs): Promise<Gpt2Runner> {
    const config = JSON.parse(await readFile(join(folder, "config.json"), "utf8")) as { n_layer: number; n_head: number; n_embd: number };
    const files = graphs === "single" ? ["model.onnx"] : graphs === "legacy-merged" ? ["decoder_model_merged.onnx"] : ["decoder_model.onnx", "decoder_with_past_model.onnx"];
    const sessions: Record<string, ort.InferenceSession> = {};
    for (const f of files) sessions[f] = await ort.InferenceSession.create(join(folder, f), { intraOpNumThreads: 1, interOpNumThreads: 1 });
    return new Gpt2Runner(graphs, sessions, config.n_layer, config.n_head, config.n_embd / config.n_head);
  }

  async close(): Promise<void> {
    for (const s of Object.values(this.sessions)) await s.release();
  }

  /** Past inputs of length 0 ([B, heads, 0, head_dim]), as the first step feeds them. */
  emptyCache(batch: number): Cache {
    const cache: Cache = {};
    for (let l = 0; l < this.numLayers; l++) {
      for (const kind of ["key", "value"]) cache[`past_key_values.${l}.${kind}`] = new ort.Tensor("float32", new Float32Array(0), [batch, this.numHeads, 0, this.headDim]);
    }
    return cache;
  }

  /**
   * One forward step: `ids` are the new tokens [B, S], `mask` covers past + new [B, T]. Without
   * `cache` this is the first step (or a full run). `positions` overrides the position_ids fed
   * to the single model (default: from the mask).
   */
  async step(ids: number[][], mask: number[][], cache?: Cache, positions?: number[][]): Promise<StepResult> {
    const feeds: Record<string, ort.Tensor> = { input_ids: int64(ids), attention_mask: int64(mask) };
    let session: ort.InferenceSession;
    if (this.graphs === "single") {
      session = this.sessions["model.onnx"];
      feeds.position_ids = int64(positions ?? positionIds(mask, ids[0].length));
      Object.assign(feeds, cache ?? this.emptyCache(ids.length));
    } else if (this.graphs === "legacy-merged") {
      session = this.sessions["decoder_model_merged.onnx"];
      Object.assign(feeds, cache ?? this.emptyCache(ids.length));
      feeds.use_cache_branch = new ort.Tensor("bool", Uint8Array.from([cache ? 1 : 0]), [1]);
    } else {
      session = this.sessions[cache ? "decoder_with_past_model.onnx" : "decoder_model.onnx"];
      if (cache) Object.assign(feeds, cache);
    }
    const out = await session.run(feeds);
    const next: Cache = {};
    for (const [name, t] of Object.entries(out)) if (name.startsWith("present.")) next[name.replace(/^present\./, "past_key_values.")] = t;
    return { logits: out.logits, cache: next };
  }
}

/** Row `b`, position `s` of [B, S, V] logits. */
export function logitsAt(logits: ort.Tensor, b: number, s: number): Float32Array {
  const [, S, V] = logits.dims;
  return (logits.data as Float32Array).subarray((b * S + s) * V, (b * S + s + 1) * V);
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/**
 * Greedy decoding with the KV cache, as HF's `_sample` does it (finished rows get pad, stop when
 * every row is done): returns the sequences (padded prompt + generated) and each step's last-position logits.
 */
export async function greedyWithCache(runner: Gpt2Runner, ids: number[][], mask: number[][], maxNew: number, eos: number, pad: number): Promise<{ sequences: number[][]; steps: Float32Array[][] }> {
  const sequences = ids.map((r) => [...r]);
  let currentMask = mask.map((r) => [...r]);
  const unfinished = ids.map(() => true);
  const steps: Float32Array[][] = [];
  let result = await runner.step(ids, currentMask);
  for (let t = 0; t < maxNew; t++) {
    const S = result.logits.dims[1];
    const last = ids.map((_, b) => Float32Array.from(logitsAt(result.logits, b, S - 1)));
    steps.push(last);
    const next = last.map((row, b) => (unfinished[b] ? argmax(row) : pad));
    next.forEach((tok, b) => {
      sequences[b].push(tok);
      if (tok === eos) unfinished[b] = false;
    });
    if (!unfinished.some(Boolean) || t === maxNew - 1) break;
    currentMask = currentMask.map((r) => [...r, 1]);
    result = await runner.step(next.map((tok) => [tok]), currentMask, result.cache);
  }
  return { sequences, steps };
}

/** Rows `from[j]` of every cache tensor [N, H, T, D], in that order (the beam reorder). */
export function gatherCache(cache: Cache, from: number[]): Cache {
  const out: Cache = {};
  for (const [name, t] of Object.entries(cache)) {
    const [, H, T, D] = t.dims;
    const row = H * T * D;
    const src = t.data as Float32Array;
    const data = new Float32Array(from.length * row);
    from.forEach((r, j) => data.set(src.subarray(r * row, (r + 1) * row), j * row));
    out[name] = new ort.Tensor("float32", data, [from.length, H, T, D]);
  }
  return out;
}

const NEG = -1e9;
const logSoftmax = (x: Float32Array): Float64Array => {
  let max = -Infinity;
  for (const v of x) max = Math.max(max, v);
  let sum = 0;
  for (const v of x) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(x, (v) => v - lse);
};

export interface BeamOptions { numBeams: number; maxNew: number; lengthPenalty: number; earlyStopping: boolean | "never"; numReturn: number; eos: number }

/**
 * HF's vectorized beam search (no logits processors) with the KV cache reordered by beam after
 * every step: returns per prompt the best `numReturn` hypotheses (generated ids, eos included)
 * and their length-penalised scores.
 */
export async function beamWithCache(runner: Gpt2Runner, ids: number[][], mask: number[][], o: BeamOptions): Promise<{ generated: number[][]; scores: number[] }> {
  const nb = o.numBeams;
  const keep = 2 * nb;
  const P = ids[0].length;
  const maxLength = P + o.maxNew;
  type Hyp = { gen: number[]; score: number };
  const running: Hyp[][] = ids.map(() => Array.from({ length: nb }, (_, k) => ({ gen: [], score: k === 0 ? 0 : NEG })));
  const finished: Hyp[][] = ids.map(() => []);
  const open = ids.map(() => true);
  const baseMask = mask.flatMap((r) => Array.from({ length: nb }, () => [...r]));
  let result = await runner.step(ids.flatMap((r) => Array.from({ length: nb }, () => r)), baseMask);
  for (let cur = P; ; cur++) {
    const S = result.logits.dims[1];
    let allStop = true;
    const from: number[] = [];
    for (let b = 0; b < ids.length; b++) {
      const cands: { score: number; k: number; v: number }[] = [];
      for (let k = 0; k < nb; k++) {
        const lp = logSoftmax(logitsAt(result.logits, b * nb + k, S - 1));
        lp.forEach((x, v) => cands.push({ score: x + running[b][k].score, k, v }));
      }
      cands.sort((x, y) => y.score - x.score || x.k * 1e6 + x.v - (y.k * 1e6 + y.v));
      const top = cands.slice(0, keep).map((c) => ({ ...c, stop: c.v === o.eos || cur + 1 >= maxLength }));
      allStop &&= top.every((c) => c.stop);
      const full = finished[b].length === nb && o.earlyStopping === true;
      if (open[b] && !full) {
        for (const c of top.slice(0, nb)) {
          if (c.stop) finished[b].push({ gen: [...running[b][c.k].gen, c.v], score: c.score / (cur + 1 - P) ** o.lengthPenalty });
        }
        finished[b].sort((x, y) => y.score - x.score).splice(nb);
      }
      const next = [...top].sort((x, y) => Number(x.stop) - Number(y.stop)).slice(0, nb); // stable: best non-stopping first
      from.push(...next.map((c) => b * nb + c.k));
      running[b] = next.map((c) => ({ gen: [...running[b][c.k].gen, c.v], score: c.score + (c.stop ? NEG : 0) }));
      // _check_early_stop_heuristic
      const length = o.earlyStopping === "never" && o.lengthPenalty > 0 ? maxLength - P : cur + 1 - P;
      if (finished[b].length === nb && running[b][0].score / length ** o.lengthPenalty <= finished[b][nb - 1].score) open[b] = false;
    }
    const anyOpen = open.some(Boolean);
    const openBeam = !(finished.every((f) => f.length === nb) && o.earlyStopping === true);
    if (!anyOpen || !openBeam || allStop) break;
    baseMask.forEach((r) => r.push(1));
    result = await runner.step(running.flatMap((rs) => rs.map((h) => [h.gen.at(-1)!])), baseMask, gatherCache(result.cache, from));
  }
  return {
    generated: finished.flatMap((f) => f.slice(0, o.numReturn).map((h) => h.gen)),
    scores: finished.flatMap((f) => f.slice(0, o.numReturn).map((h) => h.score)),
  };
}
