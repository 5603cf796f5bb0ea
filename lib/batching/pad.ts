/**
 * Padding a batch of sequences into model feeds, and splitting the outputs back into one
 * unpadded array per item. Token-level axes are those whose symbolic dimension matches the
 * sequence axis of `input_ids` (how Optimum names them), with a name-based fallback.
 */
import { NdArray, ndarray, row, cropAxes } from "../tensor.ts";
import type { Encoded } from "../tokenization/tokenizer.ts";
import type { TensorDescription } from "../inference/backend.ts";

export function buildFeeds(sequences: readonly Encoded[], inputNames: readonly string[], padId: number): Record<string, NdArray> {
  const batch = sequences.length;
  const length = Math.max(1, ...sequences.map((s) => s.ids.length));
  const columns: Record<string, (s: Encoded) => number[]> = {
    input_ids: (s) => s.ids,
    attention_mask: (s) => s.attentionMask,
    token_type_ids: (s) => s.typeIds,
  };
  const feeds: Record<string, NdArray> = {};
  for (const name of inputNames) {
    const column = columns[name];
    if (!column) throw new Error(`the model needs an input "${name}" this server cannot provide`);
    const data = new BigInt64Array(batch * length);
    if (name === "input_ids") data.fill(BigInt(padId));
    sequences.forEach((s, b) => column(s).forEach((v, t) => (data[b * length + t] = BigInt(v))));
    feeds[name] = ndarray("int64", [batch, length], data);
  }
  return feeds;
}

const TOKEN_AXES_BY_NAME: Record<string, number[]> = {
  last_hidden_state: [1],
  start_logits: [1],
  end_logits: [1],
};

/** Axes (of the batched output) that run along the sequence and must be cropped per item. */
export function tokenAxes(output: TensorDescription, sequenceDim: string | number | undefined, rank: number): number[] {
  if (typeof sequenceDim === "string" && output.shape.length === rank) {
    const symbolic = output.shape.flatMap((d, ax) => (ax > 0 && d === sequenceDim ? [ax] : []));
    if (symbolic.length > 0) return symbolic;
  }
  if (output.name.startsWith("attentions")) return [rank - 2, rank - 1];
  if (output.name.startsWith("hidden_states")) return [1];
  if (output.name === "logits" && rank === 3) return [1];
  return TOKEN_AXES_BY_NAME[output.name] ?? [];
}

/** One record of unpadded arrays per sequence, in batch order. */
export function splitOutputs(
  outputs: Record<string, NdArray>,
  infos: readonly TensorDescription[],
  sequenceDim: string | number | undefined,
  lengths: readonly number[],
): Record<string, NdArray>[] {
  const perItem: Record<string, NdArray>[] = lengths.map(() => ({}));
  for (const [name, batched] of Object.entries(outputs)) {
    const info = infos.find((i) => i.name === name) ?? { name, type: batched.dtype, shape: [] };
    const axes = tokenAxes(info, sequenceDim, batched.shape.length).map((ax) => ax - 1);
    lengths.forEach((len, b) => (perItem[b][name] = cropAxes(row(batched, b), axes, len)));
  }
  return perItem;
}
