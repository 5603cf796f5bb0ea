/**
 * KV caches as immutable per-row handles kept on the main thread, and the padded batch feeds a
 * generation step builds from them (shared/research/generation.md §2, §7).
 *
 * A RowCache holds, per self-attention past input (layout.selfNames order), the row's own
 * [heads, length, head_dim] float32 array, unpadded. An encoder-decoder row also references its
 * prompt's PromptEncoding (hidden states [length, d_model], unpadded) and the cross-attention
 * K/V per layer ([heads, encoder length, head_dim]) that the row's first decoder step produced;
 * both are shared by reference by every row continuing it (beams, copies). Nothing is ever
 * written into a handle after it is made, so several rows may continue the same one.
 *
 * Decoder-only batches left-pad: pasts to the longest past P, new tokens to the longest N; the
 * attention mask covers past + new with zeros on the padding, position_ids are each row's true
 * positions. Graphs without position_ids (legacy) derive positions from the past length, so the
 * caller only batches rows of equal past and new lengths there (no padding happens). Encoder-
 * decoder batches hold rows of equal decoder lengths (the decoder has no self-attention mask);
 * the encoder side is right-padded and masked by encoder_attention_mask.
 */
import type { DType, NdArray, TypedData } from "../tensor.ts";
import { ndarray } from "../tensor.ts";
import type { EncoderState, KvCache } from "../inference/generation.ts";
import type { GenerationLayout, GraphSpec } from "./generation-folder.ts";

/** An encoder-decoder prompt's encoder output, unpadded. */
export class PromptEncoding implements EncoderState {
  constructor(
    readonly owner: object,
    readonly length: number,
    /** [length, d_model] */
    readonly hidden: Float32Array,
  ) {
    Object.freeze(this);
  }
}

export class RowCache implements KvCache {
  constructor(
    readonly owner: object,
    readonly length: number,
    /** Per self-attention past name: [heads, length, head_dim]. */
    readonly self: readonly Float32Array[],
    readonly encoder?: PromptEncoding,
    /** Per cross-attention past name: [heads, encoder.length, head_dim] (from the row's first decoder step). */
    readonly cross?: readonly Float32Array[],
  ) {
    Object.freeze(this);
  }
}

/** One row of a step as the batch runs it. */
export interface StepItem {
  tokens: readonly number[];
  cache?: RowCache;
  encoder?: PromptEncoding;
}

/** What one row gets back from a batch, before the engine wraps it in a handle. */
export interface StepSlice {
  logits: Float32Array;
  self: Float32Array[];
  /** Seq2seq first steps: the cross-attention cache. */
  cross?: Float32Array[];
}

const int64 = (shape: number[], values: ArrayLike<number>): NdArray => ndarray("int64", shape, BigInt64Array.from(values as number[], (v) => BigInt(v)));
/** use_cache_branch is bool [1]; NdArray has no bool dtype, but ONNX Runtime takes a Uint8Array for it. */
const bool1 = (flag: boolean): NdArray => ({ dtype: "bool" as DType, shape: [1], data: Uint8Array.of(flag ? 1 : 0) as unknown as TypedData });

/**
 * Stacks per-row [H, len_b, D] arrays into [B, H, T, D], row b's positions starting at
 * `offset(b)` (left padding: T - len_b; right padding: 0); the rest stays zero.
 */
export function packRows(rows: readonly (Float32Array | undefined)[], lengths: readonly number[], H: number, T: number, D: number, offset: (b: number) => number): NdArray {
  const out = new Float32Array(rows.length * H * T * D);
  rows.forEach((src, b) => {
    const len = lengths[b];
    if (!src || len === 0) return;
    for (let h = 0; h < H; h++) out.set(src.subarray(h * len * D, (h + 1) * len * D), ((b * H + h) * T + offset(b)) * D);
  });
  return ndarray("float32", [rows.length, H, T, D], out);
}

/** Row b of a [B, H, T, D] array, keeping the positions of `spans` ([start, end) along T, in order). */
export function gatherRow(a: NdArray, b: number, spans: readonly [number, number][]): Float32Array {
  const [, H, T, D] = a.shape;
  const len = spans.reduce((s, [x, y]) => s + (y - x), 0);
  const src = a.data as Float32Array;
  const out = new Float32Array(H * len * D);
  for (let h = 0; h < H; h++) {
    let at = h * len * D;
    for (const [x, y] of spans) {
      out.set(src.subarray(((b * H + h) * T + x) * D, ((b * H + h) * T + y) * D), at);
      at += (y - x) * D;
    }
  }
  return out;
}

/** The last position's logits of row b of [B, S, V]. */
function lastLogits(logits: NdArray, b: number): Float32Array {
  const [, S, V] = logits.shape;
  return (logits.data as Float32Array).slice((b * S + S - 1) * V, (b * S + S) * V);
}

const presentOf = (past: string) => past.replace(/^past_key_values\./, "present.");

export interface BuiltStep {
  feeds: Record<string, NdArray>;
  /** Output names to fetch. */
  outputs: string[];
  slice: (outputs: Record<string, NdArray>) => StepSlice[];
}

/** A decoder-only step over `items` on `graph` (first step or cached, as the batch key grouped them). */
export function decoderOnlyStep(layout: GenerationLayout, graph: GraphSpec, items: readonly StepItem[], padId: number): BuiltStep {
  const { heads: H, headDim: D, selfNames } = layout;
  const B = items.length;
  const past = items.map((it) => it.cache?.length ?? 0);
  const news = items.map((it) => it.tokens.length);
  const P = Math.max(...past);
  const N = Math.max(...news);
  if (!graph.positionIds && (past.some((p) => p !== P) || news.some((n) => n !== N))) {
    throw new Error(`${graph.file} derives positions from the past length: a batch must hold rows of equal lengths`);
  }
  const ids: number[] = [];
  const mask: number[] = [];
  const positions: number[] = [];
  items.forEach((it, b) => {
    const padNew = N - news[b];
    for (let j = 0; j < N; j++) ids.push(j < padNew ? padId : it.tokens[j - padNew]);
    for (let t = 0; t < P; t++) mask.push(t < P - past[b] ? 0 : 1);
    for (let j = 0; j < N; j++) mask.push(j < padNew ? 0 : 1);
    for (let j = 0; j < N; j++) positions.push(j < padNew ? 1 : past[b] + j - padNew);
  });
  const feeds: Record<string, NdArray> = { input_ids: int64([B, N], ids), attention_mask: int64([B, P + N], mask) };
  if (graph.positionIds) feeds.position_ids = int64([B, N], positions);
  if (graph.past) {
    selfNames.forEach((name, k) => (feeds[name] = packRows(items.map((it) => it.cache?.self[k]), past, H, P, D, (b) => P - past[b])));
  }
  if (graph.branch) feeds.use_cache_branch = bool1(P > 0);
  const presents = selfNames.map(presentOf);
  return {
    feeds,
    outputs: ["logits", ...presents],
    slice: (out) =>
      items.map((_, b) => ({
        logits: lastLogits(out.logits, b),
        self: presents.map((name) => {
          const T = out[name].shape[2];
          return gatherRow(out[name], b, [[P - past[b], P], [T - news[b], T]]);
        }),
      })),
  };
}

/** A decoder step of an encoder-decoder model: rows of equal decoder lengths, the encoder side right-padded. */
export function seq2seqStep(layout: GenerationLayout, graph: GraphSpec, items: readonly StepItem[], padId: number): BuiltStep {
  const { heads: H, headDim: D, selfNames, crossNames, dModel } = layout;
  const B = items.length;
  const p = items[0].cache?.length ?? 0;
  const n = items[0].tokens.length;
  if (items.some((it) => (it.cache?.length ?? 0) !== p || it.tokens.length !== n)) throw new Error("an encoder-decoder batch must hold rows of equal decoder lengths");
  const encoders = items.map((it) => it.encoder!);
  const enc = encoders.map((e) => e.length);
  const E = Math.max(...enc);
  const feeds: Record<string, NdArray> = {
    input_ids: int64([B, n], items.flatMap((it) => it.tokens)),
    encoder_attention_mask: int64([B, E], enc.flatMap((e) => Array.from({ length: E }, (_, j) => (j < e ? 1 : 0)))),
  };
  if (graph.encoderHiddenStates) {
    const hidden = new Float32Array(B * E * dModel);
    encoders.forEach((e, b) => hidden.set(e.hidden, b * E * dModel));
    feeds.encoder_hidden_states = ndarray("float32", [B, E, dModel], hidden);
  }
  if (graph.past) {
    selfNames.forEach((name, k) => (feeds[name] = packRows(items.map((it) => it.cache?.self[k]), items.map(() => p), H, p, D, () => 0)));
    // The first step feeds zero-length pasts (merged decoder, use_cache_branch false).
    crossNames.forEach((name, k) => (feeds[name] = p === 0 ? ndarray("float32", [B, H, 0, D]) : packRows(items.map((it) => it.cache!.cross![k]), enc, H, E, D, () => 0)));
  }
  if (graph.branch) feeds.use_cache_branch = bool1(p > 0);
  const selfPresents = selfNames.map(presentOf);
  // On the cache branch the merged decoder's encoder presents are empty constants: keep the first step's.
  const crossPresents = p === 0 ? crossNames.map(presentOf) : [];
  return {
    feeds,
    outputs: ["logits", ...selfPresents, ...crossPresents],
    slice: (out) =>
      items.map((_, b) => ({
        logits: lastLogits(out.logits, b),
        self: selfPresents.map((name) => gatherRow(out[name], b, [[0, p + n]])),
        cross: p === 0 ? crossPresents.map((name) => gatherRow(out[name], b, [[0, enc[b]]])) : undefined,
      })),
  };
}

/** The encoder over prompts, right-padded; each prompt's hidden states back unpadded. */
export function encoderStep(graph: GraphSpec, prompts: readonly (readonly number[])[], padId: number, dModel: number): { feeds: Record<string, NdArray>; slice: (out: Record<string, NdArray>) => Float32Array[] } {
  const B = prompts.length;
  const L = Math.max(1, ...prompts.map((p) => p.length));
  const feeds: Record<string, NdArray> = {
    input_ids: int64([B, L], prompts.flatMap((p) => Array.from({ length: L }, (_, j) => (j < p.length ? p[j] : padId)))),
  };
  if (graph.inputs.some((i) => i.name === "attention_mask")) feeds.attention_mask = int64([B, L], prompts.flatMap((p) => Array.from({ length: L }, (_, j) => (j < p.length ? 1 : 0))));
  return {
    feeds,
    slice: (out) => {
      const h = out.last_hidden_state;
      const [, S, d] = h.shape;
      if (d !== dModel) throw new Error(`${graph.file} returned hidden states of size ${d}, the decoder takes ${dModel}`);
      return prompts.map((p, b) => (h.data as Float32Array).slice(b * S * d, (b * S + p.length) * d));
    },
  };
}
