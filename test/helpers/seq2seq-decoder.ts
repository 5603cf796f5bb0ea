/**
 * The T5/BART fixtures' ONNX graphs driven directly with onnxruntime-node (no server code): the
 * encoder, a decoder step without past (decoder_model.onnx, or the merged file with
 * use_cache_branch false and zero-length pasts) and cached steps (decoder_with_past_model.onnx,
 * or the merged file with use_cache_branch true, keeping the first step's encoder presents), plus
 * the generation golden (test/goldens/generation/{t5,bart}-tiny.json, written by
 * tools/goldens/generation_seq2seq.py).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { GOLDEN_DIR } from "./goldens.ts";

export const SEQ2SEQ_REGENERATE_COMMAND = "/usr/bin/python3 tools/goldens/generation_seq2seq.py";

export interface Seq2SeqCase {
  name: string;
  input: string;
  options: { max_new_tokens: number; num_beams?: number; length_penalty?: number; early_stopping?: boolean | "never"; num_return_sequences?: number };
  sequences: number[][];
  scores: number[];
  margin: number;
}

export interface Seq2SeqGolden {
  fixture: string;
  model_type: "t5" | "bart";
  model_sha256: Record<string, string>;
  generation_config: { decoder_start_token_id: number; eos_token_id: number; pad_token_id: number; forced_bos_token_id?: number; forced_eos_token_id?: number };
  inputs: Record<string, { texts: string[]; input_ids: number[][]; attention_mask: number[][] }>;
  cases: Seq2SeqCase[];
  forward: { input: string; decoder_input_ids: number[][]; last_hidden_state: GoldenTensor; logits: GoldenTensor };
  forward_long: { input_ids: number[][]; decoder_input_ids: number[][]; last_hidden_state: GoldenTensor; last_logits: GoldenTensor };
}

interface GoldenTensor {
  shape: number[];
  data: number[];
}

export async function loadSeq2SeqGolden(name: "t5-tiny" | "bart-tiny"): Promise<Seq2SeqGolden> {
  return JSON.parse(await readFile(join(GOLDEN_DIR, "generation", `${name}.json`), "utf8")) as Seq2SeqGolden;
}

export const int64 = (rows: number[][]) => new ort.Tensor("int64", BigInt64Array.from(rows.flat(), (v) => BigInt(v)), [rows.length, rows[0].length]);

export type DecoderLayout = "merged" | "split";

/** Logits [B, T, V] of one decoder call, and the cache to feed the next call. */
export interface Step {
  logits: Float32Array;
  dims: readonly number[];
  cache: Record<string, ort.Tensor>;
}

export class Seq2SeqOrt {
  private constructor(
    readonly encoder: ort.InferenceSession,
    readonly first: ort.InferenceSession,
    readonly cached: ort.InferenceSession,
    readonly layout: DecoderLayout,
    readonly config: Record<string, number>,
  ) {}

  static async open(folder: string, layout: DecoderLayout): Promise<Seq2SeqOrt> {
    const config = JSON.parse(await readFile(join(folder, "config.json"), "utf8"));
    const encoder = await ort.InferenceSession.create(join(folder, "encoder_model.onnx"));
    if (layout === "merged") {
      const merged = await ort.InferenceSession.create(join(folder, "decoder_model_merged.onnx"));
      return new Seq2SeqOrt(encoder, merged, merged, layout, config);
    }
    const first = await ort.InferenceSession.create(join(folder, "decoder_model.onnx"));
    const cached = await ort.InferenceSession.create(join(folder, "decoder_with_past_model.onnx"));
    return new Seq2SeqOrt(encoder, first, cached, layout, config);
  }

  get layers(): number {
    return this.config.num_decoder_layers ?? this.config.decoder_layers;
  }

  get heads(): number {
    return this.config.num_heads ?? this.config.decoder_attention_heads;
  }

  get headDim(): number {
    return this.config.d_kv ?? this.config.d_model / this.config.decoder_attention_heads;
  }

  async encode(ids: number[][], mask: number[][]): Promise<ort.Tensor> {
    const out = await this.encoder.run({ input_ids: int64(ids), attention_mask: int64(mask) });
    return out.last_hidden_state;
  }

  /** A decoder call on `ids` [B, T]: without past when `cache` is undefined, else with it. */
  async decode(ids: number[][], encoderStates: ort.Tensor, mask: number[][], cache?: Record<string, ort.Tensor>): Promise<Step> {
    const session = cache ? this.cached : this.first;
    const feeds: Record<string, ort.Tensor> = { encoder_attention_mask: int64(mask), input_ids: int64(ids), encoder_hidden_states: encoderStates };
    if (this.layout === "merged") {
      feeds.use_cache_branch = new ort.Tensor("bool", [cache !== undefined], [1]);
      const empty = new ort.Tensor("float32", new Float32Array(0), [ids.length, this.heads, 0, this.headDim]);
      for (const name of session.inputNames) if (name.startsWith("past_key_values.")) feeds[name] = cache?.[name] ?? empty;
    } else if (cache) {
      Object.assign(feeds, cache);
    }
    for (const name of Object.keys(feeds)) if (!session.inputNames.includes(name)) delete feeds[name];
    const out = await session.run(feeds);
    const next: Record<string, ort.Tensor> = {};
    for (const name of session.outputNames) {
      if (!name.startsWith("present.")) continue;
      const past = name.replace("present.", "past_key_values.");
      // Encoder presents are empty on the cached branch (or absent): keep the first step's.
      next[past] = cache && name.includes(".encoder.") ? cache[past] : out[name];
    }
    if (cache) for (const [k, v] of Object.entries(cache)) if (k.includes(".encoder.")) next[k] = v;
    return { logits: out.logits.data as Float32Array, dims: out.logits.dims, cache: next };
  }

  async release(): Promise<void> {
    await this.encoder.release();
    await this.first.release();
    if (this.cached !== this.first) await this.cached.release();
  }
}

/** Row `b`, position `t` of logits [B, T, V]. */
export function logitsAt(step: Step, b: number, t: number): Float32Array {
  const [, T, V] = step.dims;
  return step.logits.subarray((b * T + t) * V, (b * T + t + 1) * V);
}

/**
 * HF greedy decoding (forced bos/eos from the generation config, pad after eos) with the KV
 * cache: the prefix is fed once, then one token per step. Returns HF's padded sequences.
 */
export async function greedyWithCache(model: Seq2SeqOrt, golden: Seq2SeqGolden, ids: number[][], mask: number[][], maxNewTokens: number): Promise<number[][]> {
  const gen = golden.generation_config;
  const maxLength = 1 + maxNewTokens;
  const enc = await model.encode(ids, mask);
  const rows = ids.map(() => [gen.decoder_start_token_id]);
  const unfinished = ids.map(() => true);
  let cache: Record<string, ort.Tensor> | undefined;
  while (unfinished.some(Boolean)) {
    const step = await model.decode(cache ? rows.map((r) => [r.at(-1)!]) : rows, enc, mask, cache);
    cache = step.cache;
    const curLen = rows[0].length;
    rows.forEach((row, b) => {
      let next: number;
      if (!unfinished[b]) next = gen.pad_token_id;
      else if (gen.forced_bos_token_id !== undefined && curLen === 1) next = gen.forced_bos_token_id;
      else if (gen.forced_eos_token_id !== undefined && curLen === maxLength - 1) next = gen.forced_eos_token_id;
      else next = argmax(logitsAt(step, b, step.dims[1] - 1));
      row.push(next);
      if (next === gen.eos_token_id || row.length >= maxLength) unfinished[b] = false;
    });
  }
  return rows;
}

export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

export function logSoftmax(v: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < v.length; i++) max = Math.max(max, v[i]);
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += Math.exp(v[i] - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(v as ArrayLike<number>, (x) => x - lse);
}
